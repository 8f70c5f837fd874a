package main

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/sim"
)

// TestLink records a trace the way the sidecars do (each record a random
// span id, its parent the record of the request its caller served, which
// the caller's sidecar put in traceparent) with a retried call, shuffles it
// with another trace, and checks that link keeps the tree and groups it.
func TestLink(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	id := func() string { return hex16(rnd.Uint64()) }
	const trace = "0af7651916cd43dd8448eb211c80319c"
	fe := ingest.Span{TraceID: trace, SpanID: id(), ParentSpanID: id(), Callee: "frontend", StartUnixNano: 100, DurationNano: 900}
	try1 := ingest.Span{TraceID: trace, SpanID: id(), ParentSpanID: fe.SpanID, Caller: "frontend", Callee: "checkout", StartUnixNano: 110, DurationNano: 300, Error: true}
	try2 := ingest.Span{TraceID: trace, SpanID: id(), ParentSpanID: fe.SpanID, Caller: "frontend", Callee: "checkout", StartUnixNano: 450, DurationNano: 400, RetryCount: 1}
	pay1 := ingest.Span{TraceID: trace, SpanID: id(), ParentSpanID: try1.SpanID, Caller: "checkout", Callee: "payment", StartUnixNano: 120, DurationNano: 50}
	pay2 := ingest.Span{TraceID: trace, SpanID: id(), ParentSpanID: try2.SpanID, Caller: "checkout", Callee: "payment", StartUnixNano: 460, DurationNano: 50}
	stray := ingest.Span{TraceID: trace, SpanID: id(), ParentSpanID: id(), Caller: "cart", Callee: "inventory", StartUnixNano: 130, DurationNano: 5}
	other := ingest.Span{TraceID: "1af7651916cd43dd8448eb211c80319c", SpanID: id(), ParentSpanID: id(), Callee: "frontend", StartUnixNano: 105, DurationNano: 10}
	spans := []ingest.Span{fe, try1, try2, pay1, pay2, stray, other}
	rnd.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })

	linked, orphans := link(spans)
	if linked != 4 || orphans != 1 {
		t.Errorf("linked %d, orphans %d; want 4, 1", linked, orphans)
	}
	byID := map[string]ingest.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	want := []struct {
		span   ingest.Span
		parent string
		stack  string
	}{
		{fe, "", "frontend"},
		{try1, fe.SpanID, "frontend/checkout"},
		{try2, fe.SpanID, "frontend/checkout"},
		{pay1, try1.SpanID, "frontend/checkout/payment"}, // the try it was made for
		{pay2, try2.SpanID, "frontend/checkout/payment"},
		{stray, stray.ParentSpanID, "cart/inventory"}, // no record of its caller: kept
		{other, "", "frontend"},
	}
	for _, w := range want {
		got := byID[w.span.SpanID]
		if got.ParentSpanID != w.parent || strings.Join(got.Stack, "/") != w.stack || int(got.Depth) != len(got.Stack)-1 {
			t.Errorf("%s->%s at %d: parent %q stack %v depth %d; want parent %q stack %s",
				got.Caller, got.Callee, got.StartUnixNano, got.ParentSpanID, got.Stack, got.Depth, w.parent, w.stack)
		}
	}
	// each trace's spans together, traces by first start
	var order []string
	for _, s := range spans {
		order = append(order, s.Callee)
	}
	if got := strings.Join(order, ","); got != "frontend,checkout,payment,inventory,checkout,payment,frontend" {
		t.Errorf("order %s", got)
	}
}

func hex16(v uint64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&15]
		v >>= 4
	}
	return string(b)
}

func TestRootStats(t *testing.T) {
	var spans []ingest.Span
	for i := range 200 {
		spans = append(spans, ingest.Span{DurationNano: int64(i+1) * 1e6, Error: i%50 == 0},
			ingest.Span{Caller: "frontend", Callee: "cart", DurationNano: 1e12, Injected: i%2 == 0})
	}
	st := rootStatsOf(spans)
	if st.Requests != 200 || st.Success != 0.98 || st.P99Ms != 198 || st.Injected != 100 {
		t.Errorf("%+v", st)
	}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mesh.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"services:\n  a: {workMs: 1, calls: [{to: b}]}\n", `services.a.calls[0].to: no service "b"`},
		{"services:\n  a: {wrkMs: 1}\n", `unknown field "wrkMs"`},
		{"services:\n  a: {calls: [{to: a, timeout: 5}]}\n", `a duration must be a string like "250ms", got 5`},
		{"services:\n  a: {calls: [{to: a, timeout: 5x}]}\n", `unknown unit "x"`},
		{"services:\n  a: {errorRate: 2}\n", "services.a.errorRate: 2 not in [0, 1]"},
		{"services: {}\n", "no services"},
		{"paths: {home: 1}\nservices:\n  a: {}\n", "paths.home: want a path starting with /"},
	} {
		_, err := loadConfig(writeConfig(t, tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
}

// TestReplayMesh: the loop's mesh, as replay reads it.
func TestReplayMesh(t *testing.T) {
	c, err := loadConfig("../../bench/loop/mesh.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := sim.ParseMesh([]byte(c.replayMesh()))
	if err != nil {
		t.Fatalf("%v\n%s", err, c.replayMesh())
	}
	n := 0
	for _, s := range c.Services {
		n += len(s.Calls)
	}
	if len(m.Edges) != n || len(m.Services) != len(c.Services) {
		t.Errorf("%d edges, %d services; want %d, %d", len(m.Edges), len(m.Services), n, len(c.Services))
	}
	if in, err := c.ingress(); err != nil || in != "frontend" {
		t.Errorf("ingress %q, %v", in, err)
	}
}

// TestCallPolicy serves a request through a real service process's handler
// whose downstream is a real HTTP server failing its first tries.
func TestCallPolicy(t *testing.T) {
	for _, tc := range []struct {
		name      string
		call      Call
		failFirst int64
		delay     time.Duration
		status    int
		tries     int64
	}{
		{"retried to success", Call{To: "b", Retries: 2}, 2, 0, 200, 3},
		{"out of retries", Call{To: "b", Retries: 1}, 5, 0, 502, 2},
		{"fallback", Call{To: "b", Retries: 1, Fallback: true}, 5, 0, 200, 2},
		{"per-try timeout retried", Call{To: "b", Retries: 1, PerTryTimeout: Duration(20 * time.Millisecond)}, 0, 100 * time.Millisecond, 504, 2},
		{"route timeout", Call{To: "b", Retries: 3, Timeout: Duration(30 * time.Millisecond)}, 0, 100 * time.Millisecond, 504, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tries atomic.Int64
			var gotParent, gotCaller atomic.Value
			down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := tries.Add(1)
				gotParent.Store(r.Header.Get("Traceparent"))
				gotCaller.Store(r.Header.Get("X-Chaosgen-Caller"))
				if tc.delay > 0 {
					select {
					case <-time.After(tc.delay):
					case <-r.Context().Done():
					}
				}
				if n <= tc.failFirst {
					http.Error(w, "no", http.StatusServiceUnavailable)
					return
				}
				_, _ = w.Write([]byte(`{"ok":true}`))
			}))
			defer down.Close()
			s := newServer("a", Service{Calls: []Call{tc.call}}, map[string]string{"b": down.URL}, 1)
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
			s.ServeHTTP(rec, req)
			if rec.Code != tc.status || tries.Load() != tc.tries {
				t.Errorf("status %d after %d tries; want %d after %d", rec.Code, tries.Load(), tc.status, tc.tries)
			}
			// passed on as received: the sidecar in front of a made it a child of its record
			want := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
			if gotParent.Load() != want || gotCaller.Load() != "a" {
				t.Errorf("traceparent %v caller %v; want %s, a", gotParent.Load(), gotCaller.Load(), want)
			}
		})
	}
}

// TestConcurrencyLimit: beyond concurrency + queueLength requests fail at once with 503.
func TestConcurrencyLimit(t *testing.T) {
	release := make(chan struct{})
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer down.Close()
	s := newServer("a", Service{Concurrency: 1, QueueLength: 1, Calls: []Call{{To: "b"}}}, map[string]string{"b": down.URL}, 1)
	codes := make(chan int, 3)
	for range 2 {
		go func() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			codes <- rec.Code
		}()
	}
	for s.queued.Load() != 1 { // one in service, one queued
		time.Sleep(time.Millisecond)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("third request: %d, want 503", rec.Code)
	}
	close(release)
	for range 2 {
		if c := <-codes; c != 200 {
			t.Errorf("status %d, want 200", c)
		}
	}
}
