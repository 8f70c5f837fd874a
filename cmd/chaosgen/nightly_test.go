package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
)

// nightlyRecipe is the README's nightly job: the sh block after "A nightly
// job looks like this"; docs/nightly.md shows the same.
func nightlyRecipe(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "A nightly job looks like this")
	if !ok {
		t.Fatal("README.md has no nightly recipe")
	}
	_, block, _ := strings.Cut(after, "```sh\n")
	recipe, _, ok := strings.Cut(block, "```")
	if !ok || !strings.HasPrefix(recipe, "set -e\n") {
		t.Fatalf("README.md's nightly recipe is not a set -e sh block:\n%s", recipe)
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "nightly.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "```sh\n"+recipe+"```") {
		t.Error("docs/nightly.md does not show the README's recipe")
	}
	return recipe
}

// otlpID is a hex id of n bytes derived from s.
func otlpID(s string, n int) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:n])
}

// writeOTLP writes spans as OTLP JSON: one server span per call, recorded
// by the callee, its parent the caller's server span.
func writeOTLP(t *testing.T, path string, spans []ingest.Span) {
	t.Helper()
	type kv = map[string]any
	bySvc := map[string][]any{}
	var order []string
	for _, s := range spans {
		// int64 values are JSON strings in OTLP JSON
		sp := kv{"traceId": otlpID(s.TraceID, 16), "spanId": otlpID(s.TraceID+"/"+s.SpanID, 8), "name": s.Operation, "kind": 2,
			"startTimeUnixNano": itoa64(s.StartUnixNano), "endTimeUnixNano": itoa64(s.StartUnixNano + s.DurationNano),
			"attributes": []any{kv{"key": "http.response.status_code", "value": kv{"intValue": itoa64(int64(s.StatusCode))}}}}
		if s.ParentSpanID != "" {
			sp["parentSpanId"] = otlpID(s.TraceID+"/"+s.ParentSpanID, 8)
		}
		if s.Error {
			sp["status"] = kv{"code": 2}
		}
		if _, ok := bySvc[s.Callee]; !ok {
			order = append(order, s.Callee)
		}
		bySvc[s.Callee] = append(bySvc[s.Callee], sp)
	}
	var rs []any
	for _, svc := range order {
		rs = append(rs, kv{"resource": kv{"attributes": []any{kv{"key": "service.name", "value": kv{"stringValue": svc}}}},
			"scopeSpans": []any{kv{"spans": bySvc[svc]}}})
	}
	data, err := json.Marshal(kv{"resourceSpans": rs})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

// TestNightlyRecipe runs the README's nightly recipe as written, with the
// chaosgen binary on PATH and a signing key in ~/.ssh, on a fresh
// directory, two nights in a row: the first starts without a previous
// bundle, the second judges the first's profiles and diffs the bundles.
func TestNightlyRecipe(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED: builds chaosgen and runs the recipe twice (-short)")
	}
	recipe := nightlyRecipe(t)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatalf("no sh: %v", err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "bin")
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "chaosgen"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeTestKey(t, filepath.Join(home, ".ssh"), "id_ed25519", 3)
	work := filepath.Join(tmp, "job") // the fresh directory
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	// traces dated two days ago and yesterday, so that the default expiry
	// (a week after the data) has not passed, always from 07:00 UTC: the
	// same traffic whatever the hour the test runs (this hour's incident
	// has callers absorbing failed calls, which replay must keep absorbing)
	day := time.Now().UTC().Truncate(24 * time.Hour).Add(-48*time.Hour + 7*time.Hour)
	for night := 1; night <= 2; night++ {
		spansPath := filepath.Join(tmp, "synth", "night"+itoa64(int64(night))+".parquet")
		if code, _, stderr := runCLI("synth", "-o", spansPath, "--days", "0.05", "--rps", "2", "--services", "8",
			"--seed", itoa64(int64(night)), "--start", day.Add(time.Duration(night-1)*24*time.Hour).Format(time.RFC3339)); code != 0 {
			t.Fatalf("synth: %s", stderr)
		}
		spans, err := ingest.ReadFile(spansPath)
		if err != nil {
			t.Fatal(err)
		}
		os.RemoveAll(filepath.Join(work, "traces"))
		writeOTLP(t, filepath.Join(work, "traces", "day.json"), spans)

		cmd := exec.Command(sh, "-c", recipe)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "HOME="+home, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("night %d: the recipe failed: %v\n%s", night, err, out)
		}
		t.Logf("night %d:\n%s", night, out)
		for _, f := range []string{"bundle.json", "bundle.json.sig", "replay/report.json", "report.html"} {
			if _, err := os.Stat(filepath.Join(work, f)); err != nil {
				t.Errorf("night %d: no %s: %v", night, f, err)
			}
		}
		switch night {
		case 1:
			if !strings.Contains(string(out), "--previous previous.json does not exist: starting fresh") {
				t.Errorf("night 1: no notice of the fresh start")
			}
			if _, err := os.Stat(filepath.Join(work, "bundle.diff")); err == nil {
				t.Error("night 1 wrote a diff with nothing to compare")
			}
		case 2:
			if !strings.Contains(string(out), "feedback from the previous bundle") {
				t.Error("night 2 did not judge the previous bundle")
			}
			if d, err := os.ReadFile(filepath.Join(work, "bundle.diff")); err != nil || len(d) == 0 {
				t.Errorf("night 2: no diff (%v)", err)
			}
		}
	}
}
