package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/internal/golden"
)

func TestInjectCLIRefuses(t *testing.T) {
	f := newBundleFixture(t)
	base := []string{"inject", "--listen", "127.0.0.1:0", "--admin", "", "--upstream", "http://127.0.0.1:9", "--service", "cart"}
	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"tampered", []string{"--bundle", "tampered.json", "--pub", "alice.pub"}, 3},
		{"expired", []string{"--bundle", "expired.json", "--pub", "alice.pub"}, 3},
		{"untrusted", []string{"--bundle", "mallory.json", "--pub", "alice.pub"}, 3},
		{"unsigned", []string{"--bundle", "unsigned.json", "--pub", "alice.pub"}, 3},
		{"no-key", []string{"--bundle", "bundle.json"}, 2},
		{"identity-without-file", []string{"--bundle", "bundle.json", "--pub", "alice.pub", "--identity", "x"}, 2},
		{"busy-poll-too-long", []string{"--bundle", "bundle.json", "--pub", "alice.pub", "--busy-poll", "50ms"}, 2},
		{"upstream-without-scheme", []string{"--bundle", "bundle.json", "--pub", "alice.pub", "--upstream", "127.0.0.1:8080"}, 2},
		{"upstream-not-http", []string{"--bundle", "bundle.json", "--pub", "alice.pub", "--upstream", "ftp://127.0.0.1"}, 2},
		{"untargeted-service", []string{"--bundle", "unsigned.json", "--pub", "alice.pub", "--service", "nosuch"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runBundleCLI(t, f.dir, append(base, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr)
			}
			// the expiry message names the current time
			got := regexp.MustCompile(`now \([^)]*\)`).ReplaceAllString(stdout+stderr, "now (NOW)")
			golden.Check(t, filepath.Join(testdataDir, "inject", tc.name+".stderr"), []byte(got))
		})
	}
	code, _, stderr := runBundleCLI(t, f.dir, "inject", "--bundle", "bundle.json", "--pub", "alice.pub", "--service", "cart")
	if code != 2 || !strings.Contains(stderr, "--upstream is required") {
		t.Errorf("without --upstream: exit %d, %q", code, stderr)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestInjectCLIServes starts the proxy on a valid bundle, sends a request
// through it, and stops it by cancelling its context; in both log formats.
func TestInjectCLIServes(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) { testInjectCLIServes(t, format) })
	}
}

func testInjectCLIServes(t *testing.T, logFormat string) {
	f := newBundleFixture(t)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "cart says hi")
	}))
	defer up.Close()
	t.Chdir(f.dir)
	root := newRootCmd()
	var out, errb syncBuffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs([]string{"inject", "--bundle", "bundle.json", "--pub", "alice.pub", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0",
		"--upstream", up.URL, "--service", "cart", "--caller", "frontend", "--log-format", logFormat})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	addr := regexp.MustCompile(`proxy=(127\.0\.0\.1:\d+)`)
	if logFormat == "json" {
		addr = regexp.MustCompile(`"proxy":"(127\.0\.0\.1:\d+)"`)
	}
	var proxy string
	for deadline := time.Now().Add(10 * time.Second); proxy == ""; {
		if m := addr.FindStringSubmatch(errb.String()); m != nil {
			proxy = m[1]
		} else if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the proxy did not start:\n%s", errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, err := http.Get("http://" + proxy + "/items")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "cart says hi" {
		t.Errorf("through the proxy: %d %q", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("inject returned %v", err)
	}
	want := []string{`bundle=shop`, "signer=alice@example.com"}
	if logFormat == "json" {
		want = []string{`"bundle":"shop"`, `"signer":"alice@example.com"`}
		for _, line := range strings.Split(strings.TrimSpace(errb.String()), "\n") {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil || v["msg"] == nil || v["level"] == nil {
				t.Errorf("not a JSON log line: %q (%v)", line, err)
			}
		}
	}
	for _, w := range want {
		if !strings.Contains(errb.String(), w) {
			t.Errorf("start-up log lacks %s:\n%s", w, errb.String())
		}
	}
}

// TestInjectDefaultPorts: the default addresses collide with no common
// sidecar (15001, the old default, is Istio's outbound capture port).
func TestInjectDefaultPorts(t *testing.T) {
	taken := map[int]string{9901: "Envoy admin", 3500: "Dapr", 50001: "Dapr", 4317: "OpenTelemetry", 4318: "OpenTelemetry",
		3000: "apps", 5000: "apps", 8000: "apps", 8080: "apps", 8443: "apps"}
	cmd := newInjectCmd()
	for _, name := range []string{"listen", "admin"} {
		_, p, err := net.SplitHostPort(cmd.Flags().Lookup(name).DefValue)
		if err != nil {
			t.Fatal(err)
		}
		port, _ := strconv.Atoi(p)
		switch {
		case port >= 15000 && port <= 15090:
			t.Errorf("--%s default %d is in Istio's range", name, port)
		case port >= 4140 && port <= 4191:
			t.Errorf("--%s default %d is in Linkerd's range", name, port)
		case port >= 8500 && port <= 8600, port >= 21000 && port <= 21255:
			t.Errorf("--%s default %d is Consul's", name, port)
		case port >= 9090 && port <= 9999:
			t.Errorf("--%s default %d is in Prometheus' exporter range", name, port)
		case taken[port] != "":
			t.Errorf("--%s default %d is %s'", name, port, taken[port])
		}
	}
}
