package inject

import (
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/ingest"
)

// TestRecordsLinkThroughSidecars: a client calls frontend through its
// sidecar, frontend calls cart through cart's sidecar passing on the
// traceparent it received (as an application that propagates headers
// does). Each sidecar sends the request on as a child of its own record, so
// cart's record has frontend's record as its parent without any linking
// afterwards, with the client's trace id and flags; a request with no trace
// context gets a traceparent from the first sidecar.
func TestRecordsLinkThroughSidecars(t *testing.T) {
	dir := t.TempDir()
	recorder := func(name string) *Recorder {
		r, err := NewRecorder(RecorderOptions{Dir: filepath.Join(dir, name), Now: time.Now})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	recFrontend, recCart := recorder("frontend"), recorder("cart")
	var mu sync.Mutex
	var cartSaw []string // the traceparents cart's application received
	cart := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		cartSaw = append(cartSaw, r.Header.Get("traceparent"))
		mu.Unlock()
		io.WriteString(w, `{"ok":true}`)
	}))
	cartSidecar, _ := proxyFor(t, bundletest.Bundle(), Options{Service: "cart", Records: recCart}, cart.URL)
	frontend := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", cartSidecar.URL+"/cart", nil)
		req.Header.Set("traceparent", r.Header.Get("traceparent"))
		req.Header.Set(HeaderCaller, "frontend")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(w, resp.Body)
		resp.Body.Close()
	}))
	frontendSidecar, _ := proxyFor(t, bundletest.Bundle(), Options{Service: "frontend", Records: recFrontend}, frontend.URL)

	const clientTrace, clientParent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	getTraced(t, frontendSidecar.URL+"/", "00-"+clientTrace+"-"+clientParent+"-00")
	resp, err := http.Get(frontendSidecar.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	records := func(r *Recorder) []ingest.Span {
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		var out []ingest.Span
		for _, f := range r.Files() {
			spans, err := ingest.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, spans...)
		}
		if len(out) != 2 {
			t.Fatalf("%d records, want 2", len(out))
		}
		return out
	}
	fr, cr := records(recFrontend), records(recCart)
	for i, want := range []struct{ trace, parent, flags string }{{clientTrace, clientParent, "00"}, {"", "", "01"}} {
		f, c := fr[i], cr[i]
		if want.trace != "" && f.TraceID != want.trace {
			t.Errorf("request %d: frontend's record has trace %s, want the client's %s", i, f.TraceID, want.trace)
		}
		if f.ParentSpanID != want.parent || f.Caller != "" {
			t.Errorf("request %d: frontend's record has parent %q caller %q, want parent %q and no caller", i, f.ParentSpanID, f.Caller, want.parent)
		}
		if len(f.TraceID) != 32 || len(f.SpanID) != 16 || c.TraceID != f.TraceID || c.ParentSpanID != f.SpanID || c.Caller != "frontend" {
			t.Errorf("request %d: cart's record (trace %s parent %s caller %s) is not a child of frontend's (trace %s span %s)",
				i, c.TraceID, c.ParentSpanID, c.Caller, f.TraceID, f.SpanID)
		}
		if got, want := cartSaw[i], "00-"+f.TraceID+"-"+c.SpanID+"-"+want.flags; got != want {
			t.Errorf("request %d: cart's application got traceparent %q, want %q (cart's record as the parent)", i, got, want)
		}
	}
	if fr[1].Depth != 0 || fr[0].Depth != 1 {
		t.Errorf("depths %d, %d: want 1 for a traced request, 0 for one that started its trace at the sidecar", fr[0].Depth, fr[1].Depth)
	}
}

// TestNoRecordsNoRewrite: without records the sidecar has no span to name,
// and passes traceparent on unchanged.
func TestNoRecordsNoRewrite(t *testing.T) {
	var got []string
	up := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("traceparent"))
	}))
	px, _ := proxyFor(t, bundletest.Bundle(), Options{Service: "cart"}, up.URL)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	getTraced(t, px.URL+"/", tp)
	resp, err := http.Get(px.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(got) != 2 || got[0] != tp || got[1] != "" {
		t.Errorf("upstream got traceparents %q, want %q and none", got, tp)
	}
}
