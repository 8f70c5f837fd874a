package features

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/testseed"
)

// TestPartialShards: the partials of any split of the row groups, each
// through its binary form and merged in a random order, give the table of
// one Build, trace pass included (the row groups cut traces, which the
// merge joins again); the binary form is canonical; MergeBinary of the
// binary forms gives the accumulators of Merge, and the same table.
func TestPartialShards(t *testing.T) {
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 7))
	spans := genSpans(r, 2000)
	spans[5].DurationNano = -1 // a bad row, counted in the partial of its row group
	dir := t.TempDir()
	paths := []string{writeSpans(t, dir, "a.parquet", spans[:len(spans)/2], 97), writeSpans(t, dir, "b.parquet", spans[len(spans)/2:], 230)}
	want := build(t, paths, Options{Workers: 2})
	if want.TraceRuns.Runs == 0 || want.Bad.Total() != 1 {
		t.Fatalf("trace runs %+v, %d bad rows", want.TraceRuns, want.Bad.Total())
	}
	of, err := ingest.Open(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	for _, n := range []int{1, 2, 5, 13} {
		order := r.Perm(n)
		var merged, into, tabled *Partial
		for _, i := range order {
			p, err := Accumulate(context.Background(), of, Options{Workers: 1 + i%3, RowGroups: of.Shard(i, n)})
			if err != nil {
				t.Fatal(err)
			}
			b, err := p.AppendBinary(nil)
			if err != nil {
				t.Fatal(err)
			}
			q, err := DecodePartial(b)
			if err != nil {
				t.Fatalf("shard %d/%d: %v", i, n, err)
			}
			if b2, _ := q.AppendBinary(nil); !bytes.Equal(b, b2) {
				t.Fatalf("shard %d/%d: the binary form changes through a decode", i, n)
			}
			for _, p := range []**Partial{&into, &tabled} {
				if *p == nil {
					*p, err = DecodePartial(b)
				} else {
					err = (*p).MergeBinary(b, nil)
				}
				if err != nil {
					t.Fatalf("shard %d/%d: %v", i, n, err)
				}
			}
			if merged == nil {
				merged = q
			} else if err := merged.Merge(q); err != nil {
				t.Fatal(err)
			}
		}
		bm, _ := merged.AppendBinary(nil)
		if bi, _ := into.AppendBinary(nil); !bytes.Equal(bm, bi) {
			t.Errorf("%d shards: MergeBinary's accumulators differ from Merge's", n)
		}
		got := merged.Table()
		if got.Bad.First[ingest.ReasonNegativeDuration].Error() != want.Bad.First[ingest.ReasonNegativeDuration].Error() {
			t.Errorf("%d shards: bad row example %v, want %v", n, got.Bad.First[ingest.ReasonNegativeDuration], want.Bad.First[ingest.ReasonNegativeDuration])
		}
		compareTables(t, "shards", want, got)
		// the table straight from MergeBinary, its decoded trace outcomes
		// not yet folded by an encoding
		compareTables(t, "MergeBinary", want, tabled.Table())
	}
}

// TestDecodePartialCorrupt: a cut or changed binary form is an error,
// never a panic or a huge allocation.
func TestDecodePartialCorrupt(t *testing.T) {
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 8))
	dir := t.TempDir()
	of, err := ingest.Open([]string{writeSpans(t, dir, "a.parquet", genSpans(r, 300), 100)})
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	p, err := Accumulate(context.Background(), of, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := p.AppendBinary(nil)
	for _, n := range []int{0, 1, len(b) / 3, len(b) - 1} {
		if _, err := DecodePartial(b[:n]); err == nil {
			t.Errorf("cut at %d of %d bytes: no error", n, len(b))
		}
	}
	if _, err := DecodePartial(append(bytes.Clone(b), 0)); err == nil {
		t.Error("a byte too many: no error")
	}
	into := func() *Partial {
		q, err := DecodePartial(b)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	for _, n := range []int{0, 1, len(b) / 3, len(b) - 1} {
		if err := into().MergeBinary(b[:n], nil); err == nil {
			t.Errorf("MergeBinary cut at %d of %d bytes: no error", n, len(b))
		}
	}
	// a copy of itself merges as any partial (keys are unique within one form)
	if err := into().MergeBinary(b, nil); err != nil {
		t.Errorf("MergeBinary of a partial into its copy: %v", err)
	}
	if err := into().MergeBinary(b, []int{}); err == nil || !strings.Contains(err.Error(), "file 0") {
		t.Errorf("MergeBinary with no file to renumber to: %v", err)
	}
	other, _ := newPartial(2 * DefaultWindow).AppendBinary(nil)
	if err := into().MergeBinary(other, nil); err == nil || !strings.Contains(err.Error(), "window") {
		t.Errorf("MergeBinary of another window: %v", err)
	}
	for range 300 {
		c := bytes.Clone(b)
		c[r.IntN(len(c))] ^= byte(1 + r.IntN(255))
		DecodePartial(c) // must not panic; a flip may still decode
		into().MergeBinary(c, nil)
	}
}
