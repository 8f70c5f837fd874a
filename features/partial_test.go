package features

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

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
		var merged, into, tabled, direct *Partial
		var forms [][]byte
		var ranges []TimeRange
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
			forms, ranges = append(forms, b), append(ranges, p.TimeRange())
			// direct merges partials as decoded, their service windows
			// and trace ends still in the decoder's lists
			if direct == nil {
				direct, err = DecodePartial(b)
			} else if d, derr := DecodePartial(b); derr != nil {
				err = derr
			} else {
				err = direct.Merge(d)
			}
			if err != nil {
				t.Fatalf("shard %d/%d: %v", i, n, err)
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
		compareTables(t, "Merge of decoded partials", want, direct.Table())
		// a merge's decoding: the windows no other partial's time range
		// reaches summarised, their sketches skipped
		summed, windows, _ := summarisedMerge(t, forms, ranges)
		if n == 1 && windows != len(want.Windows) {
			t.Errorf("1 shard: %d of %d edge windows summarised", windows, len(want.Windows))
		}
		compareTables(t, "summarised", want, summed.Table())
	}
}

// summarisedMerge decodes and merges forms as a merge does, each window
// that no other form's time range (ranges) reaches summarised; it returns
// the partial and the numbers of edge and service windows summarised.
func summarisedMerge(t *testing.T, forms [][]byte, ranges []TimeRange) (p *Partial, edgeWins, svcWins int) {
	t.Helper()
	for i, b := range forms {
		opt := DecodeOptions{Summarise: true, Want: ranges[i]}
		for j, r := range ranges {
			if j != i {
				opt.Others = append(opt.Others, r)
			}
		}
		main, interior, err := splitBinary(b)
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			p, err = DecodePartialParts(main, interior, opt)
		} else {
			err = p.MergeParts(main, interior, nil, opt)
		}
		if err != nil {
			t.Fatalf("partial %d of %d: %v", i, len(forms), err)
		}
	}
	for _, e := range p.edges {
		for _, a := range e.wins {
			if a != nil && a.sum != nil {
				edgeWins++
			}
		}
	}
	for _, l := range p.svcLists {
		for i := range l {
			if l[i].a.sum != nil {
				svcWins++
			}
		}
	}
	return p, edgeWins, svcWins
}

// TestSummarisedPartial: partials of disjoint times, summarised as a merge
// decodes them, give the table of one Build with most windows summarised
// (not the service windows of the runs cut at row-group edges, which the
// merge joins and adds to);
// a window that two of them hold when one said no other could is an
// error, and so is a body whose time range is not the one given; a
// summarised partial neither encodes nor merges with Merge.
func TestSummarisedPartial(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 8))
	spans := genSpans(r, 3000)
	slices.SortStableFunc(spans, func(a, b ingest.Span) int { return cmp.Compare(a.StartUnixNano, b.StartUnixNano) })
	dir := t.TempDir()
	paths := []string{writeSpans(t, dir, "a.parquet", spans, 200)}
	want := build(t, paths, Options{Workers: 2})
	of, err := ingest.Open(paths)
	if err != nil {
		t.Fatal(err)
	}
	defer of.Close()
	var forms [][]byte
	var ranges []TimeRange
	for i := range 4 {
		p, err := Accumulate(context.Background(), of, Options{Workers: 1, RowGroups: of.Shard(i, 4)})
		if err != nil {
			t.Fatal(err)
		}
		b, err := p.AppendBinary(nil)
		if err != nil {
			t.Fatal(err)
		}
		forms, ranges = append(forms, b), append(ranges, p.TimeRange())
	}
	slices.Reverse(forms)
	slices.Reverse(ranges)
	got, ew, sw := summarisedMerge(t, forms, ranges)
	if ew < len(want.Windows)/2 || sw < len(want.Services)/2 || sw == len(want.Services) || want.TraceRuns.Runs == 0 {
		t.Errorf("%d of %d edge and %d of %d service windows summarised, want most but not all; %d trace runs", ew, len(want.Windows), sw, len(want.Services), want.TraceRuns.Runs)
	}
	if _, err := got.AppendBinary(nil); err == nil {
		t.Error("a summarised partial encoded")
	}
	if err := got.Merge(newPartial(DefaultWindow)); err == nil {
		t.Error("a summarised partial merged")
	}
	compareTables(t, "summarised", want, got.Table())
	// the same partial twice, each told no other holds its windows
	main, interior, err := splitBinary(forms[0])
	if err != nil {
		t.Fatal(err)
	}
	opt := DecodeOptions{Summarise: true, Want: ranges[0]}
	p, err := DecodePartialParts(main, interior, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.MergeParts(main, interior, nil, opt); err == nil || !strings.Contains(err.Error(), "is in two partials") {
		t.Errorf("a window summarised twice: %v", err)
	}
	opt.Want = ranges[1]
	if _, err := DecodePartialParts(main, interior, opt); err == nil || !strings.Contains(err.Error(), "its calls span") {
		t.Errorf("a body of another time range: %v", err)
	}
	// told that only its own windows at the ends of its time are shared,
	// it does not read its interior part
	opt = DecodeOptions{Summarise: true, Want: ranges[0], Others: []TimeRange{{ranges[0].Start, ranges[0].Start}, {ranges[0].End, ranges[0].End}}}
	if _, err := DecodePartialParts(main, func() ([]byte, error) { return nil, errors.New("interior read") }, opt); err != nil {
		t.Errorf("decoding without the interior part: %v", err)
	}
	opt.Others = append(opt.Others, TimeRange{(ranges[0].Start + ranges[0].End) / 2, (ranges[0].Start + ranges[0].End) / 2})
	if _, err := DecodePartialParts(main, func() ([]byte, error) { return nil, errors.New("interior read") }, opt); err == nil || err.Error() != "interior read" {
		t.Errorf("another partial's time in the interior: %v, want the interior part read", err)
	}
	if err := p.MergeBinary(forms[1], nil); err == nil {
		t.Error("a summarised partial merged a partial decoded without summaries")
	}

	// a run's row or a service window outside the partial's time: the
	// summaries of others' windows would hide what the merge adds there
	for _, c := range []struct {
		name, want string
		bend       func(q *Partial)
	}{
		{"run row", "outside the calls' time", func(q *Partial) { q.stash[0].rows[0].start = q.maxEnd + 10*q.window }},
		{"service window", "outside the time range", func(q *Partial) {
			for k, a := range q.svcs {
				delete(q.svcs, k)
				k.win += 10 * MaxWindows
				q.svcs[k] = a
				break
			}
		}},
	} {
		q, err := Accumulate(context.Background(), of, Options{Workers: 1, RowGroups: of.Shard(1, 4)})
		if err != nil {
			t.Fatal(err)
		}
		q.foldLists()
		if len(q.stash) == 0 || len(q.svcs) == 0 {
			t.Fatalf("%s: %d runs at row-group edges, %d service windows", c.name, len(q.stash), len(q.svcs))
		}
		c.bend(q)
		main, interior, err := q.AppendBinaryParts(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodePartialParts(main, func() ([]byte, error) { return interior, nil }, DecodeOptions{Summarise: true, Want: q.TimeRange()})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
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

// TestTimeSpanLimit: start times that would spread the analysis over more
// than MaxWindows windows (one span's start in microseconds among
// nanoseconds) are refused with an error naming that span's row, in any
// row group and with any number of workers, before memory is claimed for
// the windows between; spans just inside the limit are accepted. Partials
// each inside the limit but apart by more do not merge.
func TestTimeSpanLimit(t *testing.T) {
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 9))
	dir := t.TempDir()
	spans := genSpans(r, 200)
	odd := r.IntN(len(spans))
	bad := slices.Clone(spans)
	bad[odd].StartUnixNano /= 1000
	for _, rg := range []int64{int64(len(spans)), 50} {
		for _, workers := range []int{1, 2} {
			p := writeSpans(t, dir, fmt.Sprintf("us-%d.parquet", rg), bad, rg)
			of, err := ingest.Open([]string{p})
			if err != nil {
				t.Fatal(err)
			}
			_, err = Accumulate(context.Background(), of, Options{Workers: workers})
			of.Close()
			var re *ingest.RowError
			if !errors.As(err, &re) || re.Row != int64(odd) || re.File != p || !strings.Contains(err.Error(), "windows") || !strings.Contains(err.Error(), "--window 30m0s covers it") {
				t.Errorf("row groups of %d, %d workers: %v, want an error at row %d of %s", rg, workers, err, odd, p)
			}
		}
	}
	// the same spans moved so that they span MaxWindows windows exactly,
	// and one window more
	last := slices.MaxFunc(spans, func(a, b ingest.Span) int { return cmp.Compare(a.StartUnixNano, b.StartUnixNano) })
	first := slices.MinFunc(spans, func(a, b ingest.Span) int { return cmp.Compare(a.StartUnixNano, b.StartUnixNano) })
	w := int64(DefaultWindow)
	for _, c := range []struct {
		extra int64
		ok    bool
	}{{MaxWindows - 1, true}, {MaxWindows, false}} {
		moved := slices.Clone(spans)
		// the first span's window, then a trace whose start lies extra
		// windows on
		shift := (floorDiv(first.StartUnixNano, w)+c.extra)*w - last.StartUnixNano
		for i := range moved {
			if moved[i].TraceID == last.TraceID {
				moved[i].StartUnixNano += shift
			}
		}
		a := writeSpans(t, dir, fmt.Sprintf("a-%d.parquet", c.extra), moved, 64)
		of, err := ingest.Open([]string{a})
		if err != nil {
			t.Fatal(err)
		}
		_, err = Accumulate(context.Background(), of, Options{})
		of.Close()
		if (err == nil) != c.ok {
			t.Errorf("spans over %d windows: error %v", c.extra+1, err)
		}
	}
	// the window suggested for a range that is real
	for _, c := range []struct {
		lo, hi int64
		want   time.Duration
	}{{0, int64(MaxWindows * time.Minute), 2 * time.Minute}, {0, int64((MaxWindows - 1) * time.Minute), time.Minute}, {math.MinInt64, math.MaxInt64, 6 * time.Hour}} {
		if got := windowFor(c.lo, c.hi); got != c.want {
			t.Errorf("windowFor(%d, %d): %s, want %s", c.lo, c.hi, got, c.want)
		}
	}
	// two partials each well inside the limit, the second MaxWindows
	// windows after the first
	later := slices.Clone(spans)
	for i := range later {
		later[i].StartUnixNano += MaxWindows * w
	}
	var forms [][]byte
	for i, s := range [][]ingest.Span{spans, later} {
		of, err := ingest.Open([]string{writeSpans(t, dir, fmt.Sprintf("p%d.parquet", i), s, 64)})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Accumulate(context.Background(), of, Options{})
		of.Close()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := p.AppendBinary(nil)
		forms = append(forms, b)
	}
	into, err := DecodePartial(forms[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := into.MergeBinary(forms[1], nil); err == nil || !strings.Contains(err.Error(), "windows") || !strings.Contains(err.Error(), "longer --window") {
		t.Errorf("partials %d windows apart merged: %v", MaxWindows, err)
	}
}
