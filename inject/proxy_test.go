package inject

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/testseed"
	"github.com/google/go-cmp/cmp"
)

func TestTraceContext(t *testing.T) {
	cases := []struct {
		name   string
		h      http.Header
		trace  string
		parent string
		ok     bool
	}{
		{"w3c", http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true},
		{"w3c zero id", http.Header{"Traceparent": {"00-00000000000000000000000000000000-00f067aa0ba902b7-01"}}, "", "", false},
		{"w3c short", http.Header{"Traceparent": {"00-4bf92f35-00f067aa0ba902b7-01"}}, "", "", false},
		{"w3c wins over b3", http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "X-B3-Traceid": {"80f198ee56343ba864fe8b2a57d3eff7"}}, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", true},
		{"b3 multi", http.Header{"X-B3-Traceid": {"80f198ee56343ba864fe8b2a57d3eff7"}, "X-B3-Spanid": {"e457b5a2e4d86bd1"}}, "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", true},
		{"b3 multi 64-bit", http.Header{"X-B3-Traceid": {"64fe8b2a57d3eff7"}}, "64fe8b2a57d3eff7", "", true},
		{"b3 single", http.Header{"B3": {"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"}}, "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", true},
		{"b3 single two fields", http.Header{"B3": {"80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1"}}, "80f198ee56343ba864fe8b2a57d3eff7", "e457b5a2e4d86bd1", true},
		{"b3 sampling only", http.Header{"B3": {"0"}}, "", "", false},
		{"none", http.Header{}, "", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			trace, parent, ok := TraceContext(c.h)
			if trace != c.trace || parent != c.parent || ok != c.ok {
				t.Errorf("got (%q, %q, %v), want (%q, %q, %v)", trace, parent, ok, c.trace, c.parent, c.ok)
			}
		})
	}
}

func okUpstream(t testing.TB) *httptest.Server {
	return h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"items":[1,2,3],"name":"cart"}`)
	}))
}

// The observed injection rate over thousands of traces is within the
// binomial 99.9% interval of the profile's rate, and each trace's outcome
// is exactly Decide's.
func TestInjectionRate(t *testing.T) {
	up := okUpstream(t)
	const rate = 0.2
	b := bundletest.Bundle(profile("cart-abort", "cart", rate, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}))
	px, _ := proxyFor(t, b, Options{Service: "cart"}, up.URL)
	seed := testseed.Seed(t)
	rng := rand.New(rand.NewPCG(seed, 1))
	const n = 4000
	hits := 0
	for i := 0; i < n; i++ {
		tp, trace := traceparent(rng)
		resp := getTraced(t, px.URL+"/cart", tp)
		injected := resp.StatusCode == 503 && resp.Header.Get("x-chaosgen-fault") == "cart-abort"
		if want := Decide(&b.Profiles[0], b.Metadata.Seed, Request{TraceID: trace, Callee: "cart", Method: "GET", Path: "/cart"}); injected != want {
			t.Fatalf("trace %s: injected=%v, Decide says %v (status %d)", trace, injected, want, resp.StatusCode)
		}
		if injected {
			hits++
		}
	}
	got := float64(hits) / n
	tol := 3.29 * math.Sqrt(rate*(1-rate)/n)
	if math.Abs(got-rate) > tol {
		t.Errorf("observed rate %.4f outside %.2f ± %.4f", got, rate, tol)
	}
	// Requests without a trace id draw a fresh one, so the rate holds too.
	hits = 0
	for i := 0; i < n; i++ {
		resp, err := http.Get(px.URL + "/cart")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 503 {
			hits++
		}
	}
	if got := float64(hits) / n; math.Abs(got-rate) > tol {
		t.Errorf("untraced: observed rate %.4f outside %.2f ± %.4f", got, rate, tol)
	}
}

// getTraced sends a GET with the traceparent header tp and returns the
// response, its body read and closed.
func getTraced(t *testing.T, url, tp string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("traceparent", tp)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// Two proxies in a chain, both in front of "cart", decide the same for a
// trace: the records of both hops list the same injected traces.
func TestSameDecisionAtTwoHops(t *testing.T) {
	up := okUpstream(t)
	b := bundletest.Bundle(profile("cart-slow", "cart", 0.3, bundle.Fault{Type: bundle.FaultLatency, DelayMs: 1}))
	dir := t.TempDir()
	recB, err := NewRecorder(RecorderOptions{Dir: filepath.Join(dir, "b"), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	recA, err := NewRecorder(RecorderOptions{Dir: filepath.Join(dir, "a"), Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	hopB, _ := proxyFor(t, b, Options{Service: "cart", Records: recB}, up.URL)
	hopA, _ := proxyFor(t, b, Options{Service: "cart", Records: recA}, hopB.URL)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 300; i++ {
		tp, _ := traceparent(rng)
		getTraced(t, hopA.URL+"/cart", tp)
	}
	injected := func(rec *Recorder) []string {
		if err := rec.Close(); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range rec.Files() {
			spans, err := ingest.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range spans {
				if s.Injected {
					out = append(out, s.TraceID)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	a, bb := injected(recA), injected(recB)
	if len(a) < 50 || len(a) > 130 {
		t.Errorf("hop A injected %d of 300 traces at rate 0.3", len(a))
	}
	if diff := cmp.Diff(a, bb); diff != "" {
		t.Errorf("the two hops decided differently (-A +B):\n%s", diff)
	}
}

// responses served by the upstream of TestPassThroughIdentical.
func variedUpstream() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"abc"`)
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		fmt.Fprintf(w, `{"q":%q}`, r.URL.RawQuery)
	})
	mux.HandleFunc("/nocontenttype", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil
		w.Write([]byte("<html>sniff me</html>"))
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 5; i++ {
			fmt.Fprintf(w, "data: %d\n\n", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Got-Header", r.Header.Get("X-Custom"))
		w.Header().Set("X-Content-Length", strconv.FormatInt(r.ContentLength, 10))
		w.WriteHeader(201)
		w.Write(body)
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/notmodified", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"x"`)
		w.WriteHeader(304)
	})
	mux.HandleFunc("/error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	mux.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		w.Write([]byte("body"))
		w.Header().Set("X-Checksum", "42")
	})
	return mux
}

// Every response the proxy does not fault is the upstream's: status,
// headers other than hop-by-hop ones, body, trailers.
func TestPassThroughIdentical(t *testing.T) {
	up := h2cServer(t, variedUpstream())
	// a profile that matches but never fires, and one for another service
	b := bundletest.Bundle(
		profile("never", "cart", 0, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 500}),
		profile("other", "payment", 1, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 500}))
	reqs := []passSpec{
		{"GET", "/json?a=1&b=%20x", "", false},
		{"HEAD", "/json", "", false},
		{"GET", "/nocontenttype", "", false},
		{"GET", "/big", "", false},
		{"GET", "/stream", "", false},
		{"POST", "/echo", "hello body", false},
		{"PUT", "/echo", strings.Repeat("chunk", 5000), true},
		{"POST", "/echo", "", false},
		{"GET", "/nocontent", "", false},
		{"GET", "/notmodified", "", false},
		{"GET", "/error", "", false},
		{"GET", "/trailers", "", false},
		{"GET", "/missing", "", false},
	}
	for _, poll := range []time.Duration{0, 500 * time.Microsecond} {
		t.Run(fmt.Sprintf("busy-poll=%s", poll), func(t *testing.T) {
			px, _, _ := proxyWithPoll(t, b, Options{Service: "cart"}, up.URL, poll)
			checkPassThrough(t, up.URL, px.URL, reqs)
		})
	}
}

// passSpec is a request of TestPassThroughIdentical.
type passSpec struct {
	method, path, body string
	chunked            bool
}

// checkPassThrough sends each request directly and through the proxy, over
// HTTP/1.1 and h2c, and compares the responses.
func checkPassThrough(t *testing.T, directURL, proxyURL string, reqs []passSpec) {
	clients := map[string]*http.Client{"http1": {Transport: &http.Transport{DisableCompression: true}}, "h2c": h2cClient()}
	do := func(c *http.Client, base string, s passSpec) (*http.Response, []byte) {
		var body io.Reader
		if s.body != "" {
			body = strings.NewReader(s.body)
			if s.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
		}
		req, _ := http.NewRequest(s.method, base+s.path, body)
		req.Header.Set("X-Custom", "v1")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", s.method, s.path, err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s %s: body: %v", s.method, s.path, err)
		}
		return resp, data
	}
	norm := func(h http.Header) http.Header {
		h = h.Clone()
		for _, k := range []string{"Date", "Connection", "Keep-Alive", "Transfer-Encoding"} {
			delete(h, k)
		}
		return h
	}
	for name, c := range clients {
		for _, s := range reqs {
			t.Run(name+" "+s.method+" "+s.path, func(t *testing.T) {
				direct, dbody := do(c, directURL, s)
				proxied, pbody := do(c, proxyURL, s)
				if direct.StatusCode != proxied.StatusCode {
					t.Errorf("status %d, direct %d", proxied.StatusCode, direct.StatusCode)
				}
				if diff := cmp.Diff(norm(direct.Header), norm(proxied.Header)); diff != "" {
					t.Errorf("headers differ (-direct +proxied):\n%s", diff)
				}
				if !bytes.Equal(dbody, pbody) {
					t.Errorf("body differs: %d bytes vs %d direct", len(pbody), len(dbody))
				}
				if diff := cmp.Diff(direct.Trailer, proxied.Trailer); diff != "" {
					t.Errorf("trailers differ (-direct +proxied):\n%s", diff)
				}
				if direct.ContentLength != proxied.ContentLength {
					t.Errorf("content length %d, direct %d", proxied.ContentLength, direct.ContentLength)
				}
			})
		}
	}
}

// grpcUpstream is a gRPC-style h2c handler: it answers application/grpc
// requests with one message and grpc-status 0 in the trailers.
func grpcUpstream(t testing.TB) *httptest.Server {
	return h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "grpc needs HTTP/2", http.StatusHTTPVersionNotSupported)
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(200)
		w.Write([]byte{0, 0, 0, 0, 2, 8, 1}) // one length-prefixed message
		w.Header().Set("Grpc-Status", "0")
		w.Header().Set("Grpc-Message", "")
	}))
}

func grpcCall(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/payment.Payment/Charge", bytes.NewReader([]byte{0, 0, 0, 0, 0}))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func TestGRPC(t *testing.T) {
	up := grpcUpstream(t)
	b := bundletest.Bundle(bundle.Profile{ID: "pay-unavailable", Target: bundle.Target{Callee: "payment", Operation: "/payment.Payment/Refund"},
		Rate: 1, Fault: bundle.Fault{Type: bundle.FaultAbort, GRPCStatus: 14}})
	px, _ := proxyFor(t, b, Options{Service: "payment"}, up.URL)
	// not targeted: passed through over h2c with the upstream's trailers
	resp, body := grpcCall(t, px.URL)
	if resp.StatusCode != 200 || resp.Trailer.Get("Grpc-Status") != "0" || !bytes.Equal(body, []byte{0, 0, 0, 0, 2, 8, 1}) {
		t.Errorf("pass-through: status %d, trailers %v, body %v", resp.StatusCode, resp.Trailer, body)
	}
	if resp.Header.Get(HeaderFault) != "" {
		t.Error("pass-through response marked as faulted")
	}
	// targeted: aborted with grpc-status 14 in the trailers
	req, _ := http.NewRequest("POST", px.URL+"/payment.Payment/Refund", bytes.NewReader([]byte{0, 0, 0, 0, 0}))
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Trailer.Get("Grpc-Status") != "14" || !strings.Contains(resp.Trailer.Get("Grpc-Message"), "pay-unavailable") {
		t.Errorf("abort: status %d, trailers %v", resp.StatusCode, resp.Trailer)
	}
	if resp.Header.Get(HeaderFault) != "pay-unavailable" {
		t.Errorf("abort: fault header %q", resp.Header.Get(HeaderFault))
	}
	// a gRPC-only abort seen by a plain HTTP client: the mapped HTTP status
	r2, err := http.Post(px.URL+"/payment.Payment/Refund", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != 503 {
		t.Errorf("plain HTTP client got %d, want 503 (UNAVAILABLE)", r2.StatusCode)
	}
}

func TestFaults(t *testing.T) {
	var upstreamHits atomic.Int64
	up := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		if d, _ := time.ParseDuration(r.URL.Query().Get("sleep")); d > 0 {
			time.Sleep(d)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"items":[{"id":1,"name":"a"},{"id":2,"name":"b"}],"total":2}`)
	}))
	op := func(id, path string, f bundle.Fault) bundle.Profile {
		return bundle.Profile{ID: id, Target: bundle.Target{Callee: "cart", Operation: path}, Rate: 1, Fault: f}
	}
	b := bundletest.Bundle(
		op("delay", "/delay", bundle.Fault{Type: bundle.FaultLatency, DelayMs: 60, JitterMs: 10}),
		op("factor", "/factor", bundle.Fault{Type: bundle.FaultLatency, Factor: 3}),
		op("slow", "/slow", bundle.Fault{Type: bundle.FaultLatency, DelayMs: 5000}),
		op("abort", "/abort", bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 429}),
		op("drop", "/drop", bundle.Fault{Type: bundle.FaultDrop}),
		op("truncate", "/truncate", bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptTruncate}),
		op("bitflip", "/bitflip", bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptBitflip}),
		op("empty", "/empty", bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptEmpty}),
	)
	px, inj := proxyFor(t, b, Options{Service: "cart"}, up.URL)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) (*http.Response, []byte, time.Duration, error) {
		start := time.Now()
		resp, err := client.Get(px.URL + path)
		if err != nil {
			return nil, nil, time.Since(start), err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, body, time.Since(start), err
	}

	t.Run("latency delay", func(t *testing.T) {
		resp, _, d, err := get("/delay")
		if err != nil {
			t.Fatal(err)
		}
		if d < 60*time.Millisecond || resp.Header.Get(HeaderFault) != "delay" || resp.StatusCode != 200 {
			t.Errorf("took %v, header %q, status %d", d, resp.Header.Get(HeaderFault), resp.StatusCode)
		}
	})
	t.Run("latency factor", func(t *testing.T) {
		resp, _, d, err := get("/factor?sleep=40ms")
		if err != nil {
			t.Fatal(err)
		}
		// factor 3: the upstream's 40ms, then 2 × 40ms more
		if d < 120*time.Millisecond || resp.Header.Get(HeaderFault) != "factor" {
			t.Errorf("took %v, want ≥ 120ms; header %q", d, resp.Header.Get(HeaderFault))
		}
	})
	t.Run("latency honours cancellation", func(t *testing.T) {
		before := upstreamHits.Load()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", px.URL+"/slow", nil)
		start := time.Now()
		_, err := client.Do(req)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v", err)
		}
		time.Sleep(50 * time.Millisecond)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("took %v", d)
		}
		if n := upstreamHits.Load() - before; n != 0 {
			t.Errorf("the upstream got %d requests from a cancelled delay", n)
		}
		if a := inj.guard.Active(); a != 0 {
			t.Errorf("%d faults still active", a)
		}
	})
	t.Run("abort", func(t *testing.T) {
		before := upstreamHits.Load()
		resp, body, _, err := get("/abort")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 429 || resp.Header.Get(HeaderFault) != "abort" || !strings.Contains(string(body), "abort") {
			t.Errorf("status %d, header %q, body %q", resp.StatusCode, resp.Header.Get(HeaderFault), body)
		}
		if upstreamHits.Load() != before {
			t.Error("an aborted request reached the upstream")
		}
	})
	t.Run("drop http1", func(t *testing.T) {
		_, _, _, err := get("/drop")
		if err == nil {
			t.Fatal("drop: the client got a response")
		}
		t.Logf("client error: %v", err)
	})
	t.Run("drop h2c", func(t *testing.T) {
		resp, err := h2cClient().Get(px.URL + "/drop")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("drop over h2c: got status %d", resp.StatusCode)
		}
		t.Logf("client error: %v", err)
	})
	for _, mode := range []string{"truncate", "bitflip", "empty"} {
		t.Run("corrupt "+mode, func(t *testing.T) {
			direct, err := http.Get(up.URL + "/" + mode)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := io.ReadAll(direct.Body)
			direct.Body.Close()
			for _, c := range map[string]*http.Client{"http1": client, "h2c": h2cClient()} {
				resp, err := c.Get(px.URL + "/" + mode)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("reading the corrupt body: %v", err)
				}
				if resp.Header.Get(HeaderFault) != mode {
					t.Errorf("fault header %q", resp.Header.Get(HeaderFault))
				}
				if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) || resp.ContentLength != int64(len(body)) {
					t.Errorf("Content-Length %q (%d) for a %d-byte body", cl, resp.ContentLength, len(body))
				}
				if bytes.Equal(body, orig) || json.Valid(body) {
					t.Errorf("body not corrupted: %q", body)
				}
				switch mode {
				case "truncate":
					if !bytes.HasPrefix(orig, body) || len(body) >= len(orig) {
						t.Errorf("truncate: %q is not a prefix of %q", body, orig)
					}
				case "bitflip":
					if len(body) != len(orig) {
						t.Errorf("bitflip changed the length: %d vs %d", len(body), len(orig))
					}
				case "empty":
					if len(body) != 0 {
						t.Errorf("empty: %d bytes", len(body))
					}
				}
			}
		})
	}
}

func TestCorrupt(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		body, mode, ct string
	}{
		{`{"a":1}`, "truncate", "application/json"},
		{`12345`, "truncate", "application/json; charset=utf-8"},
		{`"abcdefgh"`, "bitflip", "application/problem+json"},
		{`{"a":1}`, "empty", "application/json"},
		{`hello world`, "bitflip", "text/plain"},
		{``, "truncate", "text/plain"},
	}
	for _, c := range cases {
		out := Corrupt([]byte(c.body), c.mode, c.ct, rng.Uint64)
		if isJSON(c.ct) && json.Valid(out) {
			t.Errorf("%s %q: %q is still valid JSON", c.mode, c.body, out)
		}
		if c.body != "" && string(out) == c.body {
			t.Errorf("%s %q: unchanged", c.mode, c.body)
		}
	}
}

func TestWebsocketPassThrough(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "want an upgrade", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-Websocket-Accept: test\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo every byte, frames untouched
	}))
	defer up.Close()
	px, _ := proxyFor(t, bundletest.Bundle(), Options{Service: "cart"}, up.URL)
	c, err := net.Dial("tcp", strings.TrimPrefix(px.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: cart\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != "test" {
		t.Fatalf("handshake: %d %v", resp.StatusCode, resp.Header)
	}
	frame := []byte{0x81, 0x85, 1, 2, 3, 4, 'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1}
	c.Write(frame)
	got := make([]byte, len(frame))
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, frame) {
		t.Errorf("echo %v, sent %v", got, frame)
	}
}

func TestUpstreamDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	px, _ := proxyFor(t, bundletest.Bundle(), Options{Service: "cart"}, "http://"+addr)
	resp, err := http.Get(px.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("status %d, want 502", resp.StatusCode)
	}
}
