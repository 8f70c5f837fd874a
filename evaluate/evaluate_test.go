package evaluate

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/internal/edge"
	"github.com/chaosgen/chaosgen/synth"
	"github.com/parquet-go/parquet-go"
)

func TestParseTime(t *testing.T) {
	const t0 = 1767607350 // 2026-01-05T10:02:30Z
	for _, c := range []struct {
		in   string
		want int64
		err  string
	}{
		{"2026-01-05T10:02:30Z", t0 * 1e9, ""},
		{"2026-01-05 10:02:30Z", t0 * 1e9, ""},
		{"2026-01-05T11:02:30.5+01:00", t0*1e9 + 5e8, ""},
		{"1767607350", t0 * 1e9, ""},
		{"1767607350.25", t0*1e9 + 25e7, ""},
		{"1767607350000000000", t0 * 1e9, ""},
		{"1767607350000", 0, "neither seconds nor nanoseconds"},
		{"1767607350000000", 0, "neither seconds nor nanoseconds"}, // µs
		{"2026-01-05T10:02:30", 0, "no time zone"},
		{"2026-01-05", 0, "cannot read"},
		{"-5", 0, "not a positive Unix time"},
		{"0", 0, "not a positive Unix time"},
		{"", 0, "empty"},
	} {
		got, err := ParseTime(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseTime(%q) = %d, %v; want error containing %q", c.in, got, err, c.err)
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("ParseTime(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestPodService(t *testing.T) {
	for in, want := range map[string]string{
		"ts-contacts-service-866bd68c97-xcqfx": "ts-contacts-service",
		"frontend-579b9bff58-t2dbm":            "frontend",
		"redis-0":                              "redis-0",
		"frontend":                             "frontend",
		"a-b-c":                                "a",
		"-b-c":                                 "-b-c",
		"a--c":                                 "a--c",
		"a-b-":                                 "a-b-",
	} {
		if got := PodService(in); got != want {
			t.Errorf("PodService(%q) = %q, want %q", in, got, want)
		}
	}
}

// minute returns the Unix nanoseconds of 10:00 + m minutes on a fixed day.
func minute(m float64) int64 {
	return time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC).Add(time.Duration(m * float64(time.Minute))).UnixNano()
}

// TestScoreWindowsAndTies checks which windows count for an incident and
// how ties rank, on a hand-made analysis.
func TestScoreWindowsAndTies(t *testing.T) {
	a := &Analysis{Dir: "a", Window: time.Minute, HasServices: true, EdgeP50: map[edge.Edge]float64{
		{Caller: "x", Callee: "s1"}: 10, {Caller: "x", Callee: "s2"}: 10, {Caller: "y", Callee: "s1"}: 0,
	}}
	svc := func(m float64, name string, score float64) {
		a.Services = append(a.Services, ServiceRow{Service: name, WindowStartUnixNano: minute(m), RootCauseScore: score})
	}
	win := func(m float64, caller, callee string, p50, anomaly float64) {
		a.Windows = append(a.Windows, analysis.WindowRow{Caller: caller, Callee: callee, WindowStartUnixNano: minute(m), AnomalyScore: anomaly, CallStats: analysis.CallStats{P50Ms: p50}})
	}
	// window 0 ends where the incident at minute 1 starts; window 4 starts
	// at its start + 3m: neither counts, and both would change the ranks
	svc(0, "s2", 0.99)
	svc(1, "s1", 0.5)
	svc(1, "s2", 0.5) // a tie: counts against s1
	svc(3, "s3", 0.2)
	svc(4, "s1", 0.99)
	win(0, "x", "s2", 100, 0.99)
	win(1, "x", "s1", 20, 0.7)
	win(2, "x", "s2", 20, 0.7) // ties the edge into s1
	win(2, "y", "s1", 50, 0.1) // p50 of 0 over the whole input: left out of naive
	win(4, "x", "s1", 100, 0.99)
	tr := &Truth{Path: "t", Format: FormatLabels, Incidents: []Incident{
		{StartUnixNano: minute(1), Service: "s1"},
		{StartUnixNano: minute(1), Service: "s3"},                                        // only in services: a miss elsewhere
		{StartUnixNano: minute(1), Service: "s1", Edge: true, Caller: "y", Callee: "s1"}, // the edge y → s1
		{StartUnixNano: minute(10), Service: "s1"},                                       // after the data: skipped
	}}
	r := Score(a, tr, 3*time.Minute)
	want := [][3]string{ // services, edges, naive
		{"2", "2", "2"},
		{"3", "-", "-"},
		{"2", "3", "2"},
		{"skip", "skip", "skip"},
	}
	for i, ir := range r.Incidents {
		var got [3]string
		for j, rk := range ir.Ranks {
			got[j] = rankCell(rk)
		}
		if got != want[i] {
			t.Errorf("incident %d (%s): ranks %v, want %v", i, ir.Service, got, want[i])
		}
	}
	for _, tot := range r.Rankings {
		if tot.Evaluated != 3 || tot.Skipped != 1 {
			t.Errorf("%s: %d evaluated, %d skipped; want 3, 1", tot.Name, tot.Evaluated, tot.Skipped)
		}
		if *tot.AC1 != 0 {
			t.Errorf("%s: AC@1 %v, want 0 (every hit is tied or beaten)", tot.Name, *tot.AC1)
		}
	}
	if got := *r.Rankings[0].AC3; got != 1 {
		t.Errorf("services AC@3 = %v, want 1", got)
	}
	// evidence: s1 scored 0.5 (the level: reached, twice), s3 0.2 (not),
	// the skipped incident is not evaluated
	e := r.Evidence
	if e == nil || e.Evaluated != 3 || e.Ranking.Evaluated != 2 || e.Ranking.Hits != [3]int{0, 2, 2} || *e.Ranking.AC3 != 1 {
		t.Errorf("evidence = %+v, want 3 evaluated, 2 reached, hits [0 2 2]", e)
	}
}

// TestScoreFindings checks the matching of findings: by callee or a
// suspect, only in the period of an incident.
func TestScoreFindings(t *testing.T) {
	a := &Analysis{Dir: "a", Window: time.Minute, EdgeP50: map[edge.Edge]float64{}}
	for m := range 10 {
		a.Windows = append(a.Windows, analysis.WindowRow{Caller: "x", Callee: "s1", WindowStartUnixNano: minute(float64(m))})
	}
	f := func(callee string, from, to float64, suspects ...string) Finding {
		fd := Finding{Finding: analysis.Finding{Caller: "x", Callee: callee, FromUnixNano: minute(from), ToUnixNano: minute(to)}}
		for _, s := range suspects {
			fd.Suspects = append(fd.Suspects, Suspect{Service: s})
		}
		return fd
	}
	a.Findings = []Finding{
		f("s1", 1, 2),       // matches the first incident
		f("s9", 4, 5, "s2"), // matches the second through its suspect
		f("s9", 0, 1),       // ends where the first starts: outside
		f("s1", 3.5, 4),     // in the second's period, the wrong service
		f("s2", 8, 9),       // outside both
		{Finding: analysis.Finding{Callee: "s1", FromUnixNano: minute(1), ToUnixNano: minute(2), Predicted: true}},
	}
	a.HasSuspects = true
	tr := &Truth{Incidents: []Incident{{StartUnixNano: minute(1), Service: "s1"}, {StartUnixNano: minute(3.5), Service: "s2"}}}
	got := Score(a, tr, 2*time.Minute).Findings
	want := FindingsScore{Findings: 5, InPeriods: 3, Matched: 2, Outside: 2, Incidents: 2, Found: 2, Suspects: true}
	if *got.Precision != 0.666667 || *got.Recall != 1 {
		t.Errorf("precision %v, recall %v; want 0.666667, 1", *got.Precision, *got.Recall)
	}
	got.Precision, got.Recall = nil, nil
	if got != want {
		t.Errorf("findings %+v, want %+v", got, want)
	}
}

// TestLoadAnalysisDeterministic writes the same analysis with its rows in
// two orders and an extra column; the JSON output is the same.
func TestLoadAnalysisDeterministic(t *testing.T) {
	type svcRow struct {
		Evidence            float64 `parquet:"evidence"`
		Service             string  `parquet:"service"`
		RootCauseScore      float64 `parquet:"root_cause_score"`
		WindowStartUnixNano int64   `parquet:"window_start_unix_nano"`
	}
	var svcs []svcRow
	var wins []analysis.WindowRow
	for m := range 6 {
		for i, s := range []string{"a", "b", "c"} {
			svcs = append(svcs, svcRow{Service: s, RootCauseScore: float64((m*7+i*3)%5) / 5, WindowStartUnixNano: minute(float64(m))})
			wins = append(wins, analysis.WindowRow{Caller: "in", Callee: s, WindowStartUnixNano: minute(float64(m)), AnomalyScore: float64((m*3+i)%4) / 4, CallStats: analysis.CallStats{P50Ms: float64(1 + (m+i)%3)}})
		}
	}
	edges := []analysis.EdgeRow{{Caller: "in", Callee: "a", CallStats: analysis.CallStats{P50Ms: 1}}, {Caller: "in", Callee: "b", CallStats: analysis.CallStats{P50Ms: 2}}, {Caller: "in", Callee: "c", CallStats: analysis.CallStats{P50Ms: 1}}}
	truth := filepath.Join(t.TempDir(), "labels.csv")
	os.WriteFile(truth, []byte("start,service\n2026-01-05T10:01:00Z,a\n2026-01-05T10:02:30Z,b\n2026-01-05T10:03:00Z,c\n"), 0o644)
	var outs [2][]byte
	rng := rand.New(rand.NewPCG(1, 2))
	t.Logf("seed 1, 2")
	for k := range outs {
		dir := t.TempDir()
		if k == 1 {
			rng.Shuffle(len(svcs), func(i, j int) { svcs[i], svcs[j] = svcs[j], svcs[i] })
			rng.Shuffle(len(wins), func(i, j int) { wins[i], wins[j] = wins[j], wins[i] })
		}
		for name, rows := range map[string]any{ServicesFile: svcs, analysis.WindowsFile: wins, analysis.EdgesFile: edges} {
			var err error
			switch r := rows.(type) {
			case []svcRow:
				err = parquet.WriteFile(filepath.Join(dir, name), r)
			case []analysis.WindowRow:
				err = parquet.WriteFile(filepath.Join(dir, name), r)
			case []analysis.EdgeRow:
				err = parquet.WriteFile(filepath.Join(dir, name), r)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(dir, analysis.SummaryFile), []byte(`{"window": "1m0s", "findings": []}`), 0o644)
		r, err := Run(dir, truth, Options{})
		if err != nil {
			t.Fatal(err)
		}
		r.Analysis = "dir"
		var b bytes.Buffer
		if err := r.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		outs[k] = b.Bytes()
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Errorf("shuffled rows give different output:\n%s\n%s", outs[0], outs[1])
	}
	if !bytes.Contains(outs[0], []byte(`"evaluated": 3`)) {
		t.Errorf("expected three evaluated incidents:\n%s", outs[0])
	}
}

// TestLoadAnalysisMissingColumn: a services.parquet without the score
// column is an error naming the file and the column, not zeros.
func TestLoadAnalysisMissingColumn(t *testing.T) {
	dir := t.TempDir()
	type row struct {
		Service             string `parquet:"service"`
		WindowStartUnixNano int64  `parquet:"window_start_unix_nano"`
	}
	parquet.WriteFile(filepath.Join(dir, ServicesFile), []row{{"a", 1}})
	parquet.WriteFile(filepath.Join(dir, analysis.WindowsFile), []analysis.WindowRow{{Callee: "a"}})
	parquet.WriteFile(filepath.Join(dir, analysis.EdgesFile), []analysis.EdgeRow{{Callee: "a"}})
	os.WriteFile(filepath.Join(dir, analysis.SummaryFile), []byte(`{"window": "1m0s"}`), 0o644)
	_, err := LoadAnalysis(dir)
	if err == nil || !strings.Contains(err.Error(), ServicesFile+": no column root_cause_score") {
		t.Errorf("got %v, want an error naming %s and root_cause_score", err, ServicesFile)
	}
}

func TestDetectFormat(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		content string
		want    Format
	}{
		"a.json":  {`{"seed": 1, "incidents": []}`, FormatSynth},
		"b.json":  {"\ufeff" + `{"07": [{"inject_time": "2022-08-22 07:10:43"}]}`, FormatNezha},
		"c.csv":   {"# comment\n\nStart,Service\n1767607350,a\n", FormatLabels},
		"d.bin":   {"PAR1....", FormatRecords},
		"e.json":  {`{"faults": []}`, ""},
		"f.txt":   {"when,who\n", ""},
		"records": {"", FormatRecords}, // a directory
	} {
		p := filepath.Join(dir, name)
		if name == "records" {
			os.Mkdir(p, 0o755)
		} else {
			os.WriteFile(p, []byte(c.content), 0o644)
		}
		got, err := DetectFormat(p)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("%s: %q, %v; want %q", name, got, err, c.want)
		}
	}
}

// TestSynthTruth evaluates a real synth run against its truth.json: every
// planted incident is read (format detected), lies in the data (none
// skipped), and each finding period check runs on real findings.
func TestSynthTruth(t *testing.T) {
	dir := t.TempDir()
	spans := filepath.Join(dir, "spans.parquet")
	truth, err := synth.Generate(context.Background(), spans, synth.Options{Days: 0.5, RPS: 1, Services: 12, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	an := filepath.Join(dir, "analysis")
	if _, err := analysis.Run(context.Background(), []string{spans}, an, analysis.Options{Models: analysis.ModelOptions{Seed: 1}}); err != nil {
		t.Fatal(err)
	}
	r, err := Run(an, filepath.Join(dir, "truth.json"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	r.WriteText(&b)
	t.Logf("seed 3:\n%s", b.String())
	if r.Truth.Format != string(FormatSynth) || r.Truth.Incidents != len(truth.Incidents) || len(truth.Incidents) == 0 {
		t.Fatalf("read %d incidents as %s, want %d as synth", r.Truth.Incidents, r.Truth.Format, len(truth.Incidents))
	}
	for i, in := range r.Incidents {
		want := truth.Incidents
		if !slices.ContainsFunc(want, func(w synth.Incident) bool {
			return w.Caller == in.Caller && w.Callee == in.Callee && w.StartUnixNano == in.StartUnixNano && w.Kind == in.Kind
		}) {
			t.Errorf("incident %d %+v is not in truth.json", i, in)
		}
	}
	for _, tot := range r.Rankings[1:] {
		if tot.Skipped != 0 || tot.Evaluated != len(truth.Incidents) {
			t.Errorf("%s: %d evaluated, %d skipped; want all %d evaluated", tot.Name, tot.Evaluated, tot.Skipped, len(truth.Incidents))
		}
	}
	if r.Findings.Incidents != len(truth.Incidents) || r.Findings.Findings == 0 {
		t.Errorf("findings %+v: want all %d incidents covered and some findings", r.Findings, len(truth.Incidents))
	}
}
