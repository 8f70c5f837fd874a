package analysis

import (
	"bytes"
	"context"
	"fmt"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/parquet-go/parquet-go"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/internal/testseed"
	"github.com/chaosgen/chaosgen/synth"
)

// mergeInputs writes the inputs of the merge tests into dir: chaosgen's own
// synth output in small row groups (so that traces are cut by row-group and
// shard boundaries) and the DuckDB-written fixture (another writer: every
// column optional, dictionary-encoded integers).
func mergeInputs(t *testing.T, dir string) []string {
	t.Helper()
	a := filepath.Join(dir, "a-synth.parquet")
	if _, err := synth.Generate(context.Background(), a, synth.Options{Days: 0.02, RPS: 4, Services: 10, Seed: 11, RowGroupRows: 1500}); err != nil {
		t.Fatal(err)
	}
	b := filepath.Join(dir, "b-duckdb.parquet")
	if err := os.WriteFile(b, read(t, filepath.Join("testdata", "synth-seed7-duckdb.parquet")), 0o644); err != nil {
		t.Fatal(err)
	}
	// the feedback loop's input: injections on two edges by two profiles,
	// in small row groups so that shards cut injected traces
	spans, err := ingest.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	injected := 0
	for i := range spans {
		s := &spans[i]
		if s.Caller != "" && i%7 == 0 {
			s.Injected, s.FaultType, s.FaultProfileID = true, ingest.FaultAbort, "p"+strconv.Itoa(i%2)
			s.Error, s.StatusCode, s.InjectedAtUnixNano = true, 503, s.StartUnixNano
			injected++
		}
	}
	c := filepath.Join(dir, "c-injected.parquet")
	w, err := ingest.Create(c, ingest.WriterOptions{RowGroupRows: 700})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(spans); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if injected == 0 {
		t.Fatal("no injected spans")
	}
	return []string{a, b, c}
}

// sameDirs fails unless dirs a and b hold the same files, byte for byte.
func sameDirs(t *testing.T, a, b string) {
	t.Helper()
	ea, _ := os.ReadDir(a)
	eb, _ := os.ReadDir(b)
	if len(ea) != len(eb) || len(ea) == 0 {
		t.Fatalf("%s has %d files, %s %d", a, len(ea), b, len(eb))
	}
	for i, e := range ea {
		if eb[i].Name() != e.Name() {
			t.Fatalf("%s holds %s where %s holds %s", a, e.Name(), b, eb[i].Name())
		}
		if !bytes.Equal(read(t, filepath.Join(a, e.Name())), read(t, filepath.Join(b, e.Name()))) {
			t.Errorf("%s differs between %s and %s", e.Name(), a, b)
		}
	}
}

// TestMergeExact: 1, 3 and 7 shards over the same inputs, their partials
// merged in a random order, give the analysis directory of one analyze,
// byte for byte; so do partials of one file each.
func TestMergeExact(t *testing.T) {
	seed := testseed.Seed(t)
	r := rand.New(rand.NewPCG(seed, 16))
	dir := t.TempDir()
	inputs := mergeInputs(t, dir)
	ctx := context.Background()
	one := filepath.Join(dir, "one")
	sum, err := Run(ctx, inputs, one, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if sum.TraceRuns.Runs == 0 || len(sum.Findings) == 0 {
		t.Fatalf("the inputs give %d trace runs and %d findings: too little to compare", sum.TraceRuns.Runs, len(sum.Findings))
	}
	outcomes, err := parquet.ReadFile[OutcomeRow](filepath.Join(one, OutcomesFile))
	if err != nil {
		t.Fatal(err)
	}
	profiles := map[string]bool{}
	for _, o := range outcomes {
		profiles[o.FaultProfileID] = true
	}
	if len(profiles) != 3 { // p0, p1 and the baseline
		t.Fatalf("outcomes.parquet has %d rows of profiles %v: want both profiles and the baseline", len(outcomes), profiles)
	}
	for _, n := range []int{1, 3, 7} {
		var parts []string
		groups := 0
		for i := range n {
			p := filepath.Join(dir, fmt.Sprintf("n%d-%d.part", n, i))
			info, err := RunPartial(ctx, inputs, p, PartialOptions{Shard: i, Shards: n, Workers: 1 + i%2})
			if err != nil {
				t.Fatal(err)
			}
			groups += info.RowGroups
			parts = append(parts, p)
		}
		if groups < 7 {
			t.Fatalf("%d row groups: too few to split 7 ways", groups)
		}
		// a partial file is deterministic: the same shard with other
		// workers gives the same bytes
		again := filepath.Join(dir, "again.part")
		if _, err := RunPartial(ctx, inputs, again, PartialOptions{Shard: n - 1, Shards: n, Workers: 3}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(read(t, again), read(t, parts[n-1])) {
			t.Errorf("shard %d/%d: the partial file differs between runs", n-1, n)
		}
		r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
		out := filepath.Join(dir, fmt.Sprintf("merged%d", n))
		if _, err := Merge(ctx, parts, out, Options{}); err != nil {
			t.Fatalf("%d shards: %v", n, err)
		}
		sameDirs(t, one, out)
	}
	// one partial per file, in reverse order
	var parts []string
	for i := len(inputs) - 1; i >= 0; i-- {
		p := filepath.Join(dir, fmt.Sprintf("file%d.part", i))
		if _, err := RunPartial(ctx, inputs[i:i+1], p, PartialOptions{}); err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
	}
	out := filepath.Join(dir, "byfile")
	if _, err := Merge(ctx, parts, out, Options{}); err != nil {
		t.Fatal(err)
	}
	sameDirs(t, one, out)
}

// TestMergeRefuses: partials that cannot give the analysis of their inputs
// are refused with an error naming the files, row groups or shards.
func TestMergeRefuses(t *testing.T) {
	dir := t.TempDir()
	inputs := mergeInputs(t, dir)[:1]
	ctx := context.Background()
	part := func(name string, opt PartialOptions) string {
		p := filepath.Join(dir, name)
		if _, err := RunPartial(ctx, inputs, p, opt); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s0, s1, s2 := part("s0", PartialOptions{Shard: 0, Shards: 3}), part("s1", PartialOptions{Shard: 1, Shards: 3}), part("s2", PartialOptions{Shard: 2, Shards: 3})
	all := part("all", PartialOptions{})
	w5 := part("w5", PartialOptions{Window: 5 * time.Minute, Shard: 2, Shards: 3})
	version := func(v int) string {
		p := filepath.Join(dir, fmt.Sprintf("v%d", v))
		os.WriteFile(p, bytes.Replace(read(t, s2), fmt.Appendf(nil, "chaosgen.partial/v%d\n", PartialVersion), fmt.Appendf(nil, "chaosgen.partial/v%d\n", v), 1), 0o644)
		return p
	}
	v1, v9 := version(1), version(9)
	olddigest := filepath.Join(dir, "olddigest")
	os.WriteFile(olddigest, bytes.Replace(read(t, s2), []byte(`"digest":"`+ingest.DigestVersion+`"`), []byte(`"digest":"chaosgen.input-digest/v1"`), 1), 0o644)
	// a header whose time range is not its body's: the others would skip
	// the sketches of windows that it holds
	skewed := filepath.Join(dir, "skewed")
	os.WriteFile(skewed, regexp.MustCompile(`"start_unix_nano":\d+`).ReplaceAll(read(t, s2), []byte(`"start_unix_nano":1`)), 0o644)
	cut := filepath.Join(dir, "cut")
	b := read(t, s2)
	os.WriteFile(cut, b[:len(b)-10], 0o644)
	flip := filepath.Join(dir, "flip")
	b = bytes.Clone(b)
	b[len(b)-20] ^= 0xff
	os.WriteFile(flip, b, 0o644)
	// a byte of the main part's frame (the first after the header line)
	flipMain := filepath.Join(dir, "flipmain")
	b = bytes.Clone(read(t, s2))
	body := bytes.IndexByte(b[bytes.IndexByte(b, '\n')+1:], '\n') + bytes.IndexByte(b, '\n') + 2
	b[body+40] ^= 0xff
	os.WriteFile(flipMain, b, 0o644)

	for _, c := range []struct {
		name  string
		parts []string
		want  []string
	}{
		{"missing shard", []string{s2, s0}, []string{"no partial read", "a-synth.parquet row group(s)", "missing: the partial of shard 1/3"}},
		{"overlap", []string{s0, s1, all}, []string{"row group 0 of", "is in both", "s0 (shard 0/3)", "all (all row groups)"}},
		{"same shard twice", []string{s0, s1, s2, s1}, []string{"s1 (shard 1/3) and", "exactly one partial"}},
		{"window", []string{s0, s1, w5}, []string{"w5 has window 5m0s", "has 1m0s", "same --window"}},
		{"old version", []string{s0, s1, v1}, []string{fmt.Sprintf("v1: partial analysis of another format version: format version 1, this chaosgen reads version %d", PartialVersion), "older chaosgen", "write the partials again"}},
		{"time range", []string{s0, s1, skewed}, []string{"skewed: partial body: its calls span", "its header says"}},
		{"new version", []string{v9, s0, s1}, []string{"v9: partial analysis of another format version: format version 9", "newer chaosgen"}},
		{"digest kind", []string{s0, s1, olddigest}, []string{`olddigest holds input digests of the kind "chaosgen.input-digest/v1"`, "one chaosgen version"}},
		{"truncated", []string{s0, s1, cut}, []string{"cut: partial body: the interior frame's CRC-32C"}},
		{"corrupt", []string{s0, s1, flip}, []string{"flip: partial body: the interior frame's CRC-32C", "damaged or cut short"}},
		{"corrupt main part", []string{s0, s1, flipMain}, []string{"flipmain: partial body:"}},
		{"not a partial", []string{s0, inputs[0]}, []string{"a-synth.parquet: not a chaosgen partial analysis", "PAR1"}},
		{"nothing", nil, []string{"no partial analyses to merge"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(c.name, " ", "-"))
			_, err := Merge(ctx, c.parts, out, Options{})
			if err == nil {
				t.Fatal("merged")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, serr := os.Stat(out); !os.IsNotExist(serr) {
				t.Errorf("%s was written", out)
			}
		})
	}
	if _, err := Merge(ctx, []string{s1, s2, s0}, filepath.Join(dir, "ok"), Options{}); err != nil {
		t.Errorf("the three shards: %v", err)
	}
}
