package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
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
// through it, and stops it by cancelling its context.
func TestInjectCLIServes(t *testing.T) {
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
		"--upstream", up.URL, "--service", "cart", "--caller", "frontend"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	addr := regexp.MustCompile(`proxy=(127\.0\.0\.1:\d+)`)
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
	if !strings.Contains(errb.String(), `bundle=shop`) || !strings.Contains(errb.String(), "signer=alice@example.com") {
		t.Errorf("start-up log lacks the bundle and signer:\n%s", errb.String())
	}
}
