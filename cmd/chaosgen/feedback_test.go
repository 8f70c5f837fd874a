package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/inject"
)

// TestFeedbackLoop runs the loop of DESIGN.md end to end: a bundle is
// applied by the injector middleware to real HTTP requests, the injectors'
// records are analysed, and generate --previous reads how the system
// responded and moves the profile's rate. With the caller's side recorded
// (fraud behind its own injector, falling back when billing fails: nothing
// upstream fails) the rate goes up by 1.5x within maxRate; with billing's
// records alone nothing shows how fraud fared: no verdict, the rate kept.
func TestFeedbackLoop(t *testing.T) {
	t.Run("caller side recorded", func(t *testing.T) {
		p, out := feedbackNight(t, true)
		if p.Rate != 0.3 || p.Fault.Type != bundle.FaultAbort {
			t.Errorf("next rate %g (%s), want 0.3 (0.2 x 1.5, handled):\n%s", p.Rate, p.Fault.Type, out)
		}
		if !strings.Contains(p.Rationale.Summary, "last run handled") {
			t.Errorf("the decision is not in the rationale: %q", p.Rationale.Summary)
		}
	})
	t.Run("callee records only", func(t *testing.T) {
		p, out := feedbackNight(t, false)
		if p.Rate != 0.2 || !strings.Contains(p.Rationale.Summary, "last run no caller evidence") ||
			!strings.Contains(out, "rate kept at 20% (no caller evidence)") {
			t.Errorf("next rate %g, rationale %q:\n%s", p.Rate, p.Rationale.Summary, out)
		}
	})
}

// feedbackNight runs one night: 3 minutes of traffic without injection,
// 3 with, through billing's injector (and fraud's, calling billing, when
// caller), then analyze and generate --previous.
func feedbackNight(t *testing.T, caller bool) (*bundle.Profile, string) {
	dir := t.TempDir()
	prev := &bundle.Bundle{
		APIVersion: bundle.APIVersion, Kind: bundle.Kind,
		Metadata: bundle.Metadata{Name: "night-1", Generator: "test", Seed: 7},
		Guards:   bundle.Guards{MaxGlobalRate: 1},
		Profiles: []bundle.Profile{{
			ID:     "errors-fraud-billing",
			Target: bundle.Target{Caller: "fraud", Callee: "billing"},
			Fault:  bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503},
			Rate:   0.2, MaxRate: 0.5, Severity: bundle.SeverityModerate,
			Rationale: bundle.Rationale{Summary: "test"},
		}},
	}
	data, err := bundle.Encode(prev)
	if err != nil {
		t.Fatal(err)
	}
	prevPath := filepath.Join(dir, "bundle.json")
	if err := os.WriteFile(prevPath, data, 0o644); err != nil {
		t.Fatal(err)
	}

	// a fake clock: 1 ms per reading, so every request takes a few ms
	var mu sync.Mutex
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	rec, err := inject.NewRecorder(inject.RecorderOptions{Dir: filepath.Join(dir, "records"), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	inj, err := inject.New(prev, inject.Options{Service: "billing", Now: clock, Records: rec})
	if err != nil {
		t.Fatal(err)
	}
	upstream := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := httptest.NewServer(inj.Handler(upstream))
	defer srv.Close()
	injected := 0
	charge := func(traceparent string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/charge", nil)
		req.Header.Set(inject.HeaderCaller, "fraud")
		req.Header.Set("traceparent", traceparent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 503 {
			injected++
		}
		return resp.StatusCode
	}
	target := srv.URL
	if caller {
		// fraud, behind its own injector (no profile of its own), calls
		// billing and falls back to a cached answer when billing fails; it
		// passes on the trace context it received, in which its injector
		// made its record the parent
		fraudInj, err := inject.New(prev, inject.Options{Service: "fraud", Now: clock, Records: rec})
		if err != nil {
			t.Fatal(err)
		}
		fraud := httptest.NewServer(fraudInj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if charge(r.Header.Get("traceparent")) != 200 {
				fmt.Fprintln(w, "fallback")
				return
			}
			fmt.Fprintln(w, "ok")
		})))
		defer fraud.Close()
		target = fraud.URL
	}
	send := func(n int, seed int) int {
		injected = 0
		for i := 0; i < n; i++ {
			tp := fmt.Sprintf("00-%032x-00f067aa0ba902b7-01", seed*1_000_003+i)
			if caller {
				req, _ := http.NewRequest("GET", target+"/score", nil)
				req.Header.Set("traceparent", tp)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("fraud answered %d", resp.StatusCode)
				}
			} else {
				charge(tp)
			}
			advance(100 * time.Millisecond) // 600 requests a minute
		}
		return injected
	}
	// three minutes without injection (the kill switch), three with
	inj.Kill()
	if got := send(1800, 1); got != 0 {
		t.Fatalf("%d injections while killed", got)
	}
	inj.Resume()
	got := send(1800, 2)
	if got < 250 || got > 470 { // 20% of 1800 = 360
		t.Fatalf("%d injections of 1800 at rate 0.2", got)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI("analyze", filepath.Join(dir, "records"), "-o", filepath.Join(dir, "analysis"), "--json")
	if code != 0 {
		t.Fatalf("analyze: exit %d: %s", code, errOut)
	}
	rows := 3600
	if caller {
		rows = 7200
	}
	if !strings.Contains(out, fmt.Sprintf(`"rows": %d`, rows)) {
		t.Fatalf("analyze did not see the %d records:\n%.400s", rows, out)
	}
	next := filepath.Join(dir, "next.json")
	code, out, errOut = runCLI("generate", filepath.Join(dir, "analysis"), "-o", next, "--previous", prevPath, "--max-rate", "0.5")
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(next)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := bundle.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	var p *bundle.Profile
	for i := range nb.Profiles {
		if nb.Profiles[i].ID == "errors-fraud-billing" {
			p = &nb.Profiles[i]
		}
	}
	if p == nil {
		t.Fatalf("the profile was not carried into the next bundle:\n%s\n%s", out, b)
	}
	t.Logf("generate said:\n%s", out)
	return p, out
}
