package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/internal/golden"
)

// writeDashboardInputs makes, in the current directory, a small synthetic
// mesh's analysis in out/analysis and a bundle signed by alice in
// out/bundle.json.
func writeDashboardInputs(t *testing.T) {
	t.Helper()
	os.MkdirAll("out", 0o755)
	writeTestKey(t, "out", "alice", 1)
	for _, args := range [][]string{
		{"synth", "-o", "out/spans.parquet", "--days", "0.02", "--rps", "3", "--services", "10", "--seed", "9"},
		{"analyze", "out/spans.parquet", "-o", "out/analysis"},
		{"generate", "out/analysis", "-o", "out/bundle.json", "--key", "out/alice", "--min-score", "0", "--not-after", "never"},
	} {
		if code, _, stderr := runCLI(args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to write from the server's goroutine.
func TestDashboardCLI(t *testing.T) {
	t.Chdir(t.TempDir())
	writeDashboardInputs(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	var out, errb syncBuffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs([]string{"dashboard", "--analysis", "out/analysis", "--bundle", "out/bundle.json", "--pub", "out/alice.pub", "--key", "out/alice", "--spans", "out/spans.parquet"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	re := regexp.MustCompile(`^chaosgen dashboard: (http://127\.0\.0\.1:\d+/)\n$`)
	var url string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("dashboard exited: %v: %s", err, errb.String())
		default:
		}
	}
	if url == "" {
		t.Fatalf("no URL printed: %q %q", out.String(), errb.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Valid signature") || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET /: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("dashboard: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dashboard did not stop on cancel")
	}
	if errb.String() != "" {
		t.Errorf("stderr: %q", errb.String())
	}
}

func TestDashboardCLIErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	writeDashboardInputs(t)
	os.WriteFile("out/open-key", []byte("x"), 0o644)
	os.WriteFile("out/typo.yaml", []byte("edges:\n- {caller: frontend, callee: checkot}\n"), 0o644)
	var all strings.Builder
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"dashboard"}, 2},
		{[]string{"dashboard", "--analysis", "out/analysis", "extra"}, 2},
		{[]string{"dashboard", "--analysis", "out/analysis", "--pub", "out/alice.pub"}, 2},
		{[]string{"dashboard", "--analysis", "out/analysis", "--bundle", "out/bundle.json", "--pub", "a", "--allowed-signers", "b", "--identity", "c"}, 2},
		{[]string{"dashboard", "--analysis", "out/analysis", "--bundle", "out/bundle.json", "--allowed-signers", "b"}, 2},
		{[]string{"dashboard", "--analysis", "out/analysis", "--key", "out/alice"}, 2},
		{[]string{"dashboard", "--analysis", "out/analysis", "--injector-token-file", "t"}, 2},
		{[]string{"dashboard", "--analysis", "missing"}, 1},
		{[]string{"dashboard", "--analysis", "out/analysis", "--bundle", "out/bundle.json", "--key", "out/open-key"}, 1},
		{[]string{"dashboard", "--analysis", "out/analysis", "--injector", "ftp://x"}, 2},
		{[]string{"dashboard", "--analysis", "out/analysis", "--listen", "127.0.0.1:99999"}, 1},
		{[]string{"dashboard", "--analysis", "out/analysis", "--listen", "0.0.0.0:0"}, 2},
		{[]string{"dashboard", "--analysis", "out/analysis", "--spans", "out/spans.parquet", "--mesh", "out/typo.yaml"}, 1},
		{[]string{"dashboard", "--analysis", "out/analysis", "--listen", ":8080"}, 2},
	} {
		code, stdout, stderr := runCLI(c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d: %s", c.args, code, c.code, stderr)
		}
		all.WriteString("$ chaosgen " + strings.Join(c.args, " ") + "\n" + stdout + stderr)
	}
	golden.Check(t, filepath.Join(testdataDir, "dashboard", "errors.golden"), []byte(all.String()))
}
