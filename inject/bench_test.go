package inject

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
)

func benchUpstream(b *testing.B) *httptest.Server {
	body := bytes.Repeat([]byte("x"), 1024)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}))
	b.Cleanup(s.Close)
	return s
}

func benchGet(b *testing.B, url string) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := c.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkProxy sends requests through the proxy, with profiles that
// match but do not fire, to a 1 KiB upstream on loopback.
func BenchmarkProxy(b *testing.B) {
	up := benchUpstream(b)
	bd := bundletest.Bundle(
		profile("never-abort", "cart", 0, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}),
		profile("never-slow", "cart", 0, bundle.Fault{Type: bundle.FaultLatency, DelayMs: 10}))
	px, _ := proxyFor(b, bd, Options{Service: "cart", Now: time.Now}, up.URL)
	benchGet(b, px.URL+"/item")
}

// BenchmarkDirect is BenchmarkProxy's baseline: the same requests straight
// to the upstream.
func BenchmarkDirect(b *testing.B) {
	benchGet(b, benchUpstream(b).URL+"/item")
}

// BenchmarkHandler is the middleware's own cost per request, in process.
func BenchmarkHandler(b *testing.B) {
	benchHandler(b, Options{Service: "cart", Now: time.Now})
}

// BenchmarkHandlerRecords is BenchmarkHandler with every request recorded
// (Options.Records): the recording's own cost per request is the
// difference.
func BenchmarkHandlerRecords(b *testing.B) {
	rec, err := NewRecorder(RecorderOptions{Dir: b.TempDir(), Now: time.Now})
	if err != nil {
		b.Fatal(err)
	}
	benchHandler(b, Options{Service: "cart", Now: time.Now, Records: rec})
	if err := rec.Close(); err != nil {
		b.Fatal(err)
	}
	if rec.Written()+rec.Dropped() != int64(b.N) {
		b.Fatalf("written %d + dropped %d != %d requests", rec.Written(), rec.Dropped(), b.N)
	}
	b.ReportMetric(float64(rec.Dropped())/float64(b.N), "dropped/req")
}

// benchHandler runs requests that a profile matches but never fires
// through the middleware made with opts.
func benchHandler(b *testing.B, opts Options) {
	bd := bundletest.Bundle(profile("never-abort", "cart", 0, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}))
	inj, _ := New(bd, opts)
	h := inj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	req := httptest.NewRequest("GET", "/item", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	w := &recorderResponse{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
