package inject

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
)

// getBody GETs url and returns the status and body.
func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestProbesAndMetrics: /healthz and /readyz on the admin address; request
// duration and status metrics and chaosgen_build_info.
func TestProbesAndMetrics(t *testing.T) {
	up := okUpstream(t)
	abort := profile("cart-abort", "cart", 1, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503})
	abort.Target.Operation = "GET /broken"
	path, pub := signed(t, t.TempDir(), bundletest.Bundle(abort))
	s := serve(t, Config{Bundle: path, Verify: bundle.VerifyOptions{PublicKey: pub}, Upstream: up.URL, Service: "cart", Version: "v1.2.3"})
	for _, p := range []string{HealthPath, ReadyPath} {
		if code, body := getBody(t, s.admin+p); code != 200 {
			t.Errorf("%s: %d %q", p, code, body)
		}
	}
	for range 3 {
		getStatus(t, s.proxy+"/ok")
	}
	getStatus(t, s.proxy+"/broken")
	_, metrics := getBody(t, s.admin+"/metrics")
	for _, want := range []string{
		`chaosgen_inject_responses_total{code="200"} 3`,
		`chaosgen_inject_responses_total{code="503"} 1`,
		`chaosgen_inject_request_duration_seconds_count 4`,
		`chaosgen_build_info{goversion="go`, `version="v1.2.3"} 1`,
		`chaosgen_inject_open_connections `,
		`chaosgen_inject_accept_errors_total 0`,
		`chaosgen_inject_corrupt_passed_total 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestReadyzDuringShutdown: /readyz answers 503 from the moment shutdown
// begins (so the pod leaves the Service's endpoints while requests finish).
func TestReadyzDuringShutdown(t *testing.T) {
	var ready atomic.Bool
	ready.Store(true)
	h := withProbes(http.NotFoundHandler(), &ready)
	rec := newRecorderResponse()
	h.ServeHTTP(rec, mustRequest("GET", ReadyPath, ""))
	if rec.code != 200 {
		t.Errorf("ready: %d", rec.code)
	}
	ready.Store(false)
	rec = newRecorderResponse()
	h.ServeHTTP(rec, mustRequest("GET", ReadyPath, ""))
	if rec.code != 503 {
		t.Errorf("shutting down: %d, want 503", rec.code)
	}
	rec = newRecorderResponse()
	h.ServeHTTP(rec, mustRequest("GET", HealthPath, ""))
	if rec.code != 200 {
		t.Errorf("healthz while shutting down: %d", rec.code)
	}
}

// TestKillFile: the fleet-wide kill switch is a file every sidecar reads
// at each poll: on kills injection (a POST /resume lasts until the next
// poll), off lifts the kill it set, a missing file is off.
func TestKillFile(t *testing.T) {
	up := okUpstream(t)
	dir := t.TempDir()
	path, pub := signed(t, dir, bundletest.Bundle(profile("cart-abort", "cart", 1, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503})))
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte("s3cret\n"), 0o600)
	kill := filepath.Join(dir, "fleet", "killed")
	s := serve(t, Config{Bundle: path, Verify: bundle.VerifyOptions{PublicKey: pub}, Upstream: up.URL, Service: "cart",
		KillFile: kill, AdminTokenFile: token})
	if got := getStatus(t, s.proxy+"/"); got != 503 {
		t.Fatalf("no kill file: %d, want the fault's 503", got)
	}
	os.MkdirAll(filepath.Dir(kill), 0o755)
	os.WriteFile(kill, []byte("on\n"), 0o644)
	waitFor(t, "the kill file to kill injection", func() bool { return status(t, s.admin).Killed })
	if got := getStatus(t, s.proxy+"/"); got != 200 {
		t.Errorf("killed by the file: %d, want 200", got)
	}
	adminDo(t, "POST", s.admin+"/resume", "s3cret", "")
	waitFor(t, "the kill file to win over /resume", func() bool { return status(t, s.admin).Killed })
	os.WriteFile(kill, []byte("off\n"), 0o644)
	waitFor(t, "the kill file to lift its kill", func() bool { return !status(t, s.admin).Killed })
	if got := getStatus(t, s.proxy+"/"); got != 503 {
		t.Errorf("after the file said off: %d, want 503", got)
	}
	for content, on := range map[string]bool{"": false, "0": false, "FALSE": false, " off\n": false, "no": false,
		"1": true, "true": true, "On": true, "kill": true, "killed\n": true, "maybe": true} {
		if KillFileOn(content) != on {
			t.Errorf("KillFileOn(%q) = %v", content, !on)
		}
	}
}

// TestConfigMapReload: a ConfigMap volume updates its files by swapping
// the ..data symlink to a new directory (kubelet's atomic writer); the
// bundle is reloaded from the new pair.
func TestConfigMapReload(t *testing.T) {
	up := okUpstream(t)
	dir := t.TempDir()
	abort := bundletest.Bundle(profile("cart-abort", "cart", 1, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}))
	// the key, written by `signed` to a staging directory, then laid out as kubelet does
	stage := t.TempDir()
	_, pub := signed(t, stage, abort)
	generation := 0
	publish := func(b *bundle.Bundle) {
		generation++
		writeSigned(t, filepath.Join(stage, "bundle.json"), b)
		ts := filepath.Join(dir, "..2026_06_01_12_00_0"+string(rune('0'+generation)))
		os.Mkdir(ts, 0o755)
		for _, f := range []string{"bundle.json", "bundle.json.sig"} {
			data, _ := os.ReadFile(filepath.Join(stage, f))
			os.WriteFile(filepath.Join(ts, f), data, 0o644)
		}
		tmp := filepath.Join(dir, "..data_tmp")
		os.Symlink(filepath.Base(ts), tmp)
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	publish(abort)
	for _, f := range []string{"bundle.json", "bundle.json.sig"} {
		os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f))
	}
	s := serve(t, Config{Bundle: filepath.Join(dir, "bundle.json"), Verify: bundle.VerifyOptions{PublicKey: pub}, Upstream: up.URL, Service: "cart"})
	if got := getStatus(t, s.proxy+"/"); got != 503 {
		t.Fatalf("first bundle: %d, want 503", got)
	}
	first := status(t, s.admin).Bundle.Digest
	publish(bundletest.Bundle())
	waitFor(t, "the reload", func() bool { return status(t, s.admin).Bundle.Digest != first })
	if got := getStatus(t, s.proxy+"/"); got != 200 {
		t.Errorf("after the ConfigMap update: %d, want 200", got)
	}
}
