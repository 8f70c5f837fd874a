package inject

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/inject/internal/h1"
)

// rawUpstream is an HTTP/1.1 upstream that answers every request with its
// raw head (request line and header lines, as received) as the body, and
// counts the requests it got.
type rawUpstream struct {
	URL   string
	count atomic.Int64
}

func newRawUpstream(t testing.TB) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{URL: "http://" + ln.Addr().String()}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var head bytes.Buffer
					cl := int64(0)
					for {
						line, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if line == "\r\n" {
							break
						}
						head.WriteString(line)
						if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "content-length") {
							cl, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
						}
					}
					if _, err := io.CopyN(io.Discard, br, cl); err != nil {
						return
					}
					u.count.Add(1)
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s", head.Len(), head.Bytes())
				}
			}()
		}
	}()
	return u
}

// headerLines returns the values of the header lines named name (any case)
// in a raw head.
func headerLines(head, name string) []string {
	var out []string
	for _, line := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

// TestContentLengthForwardedOnce: a request body with a Content-Length
// reached the upstream with that header twice (nginx and Node.js answer
// such a request 400), over HTTP/1.1 and h2c.
func TestContentLengthForwardedOnce(t *testing.T) {
	up := newRawUpstream(t)
	px, _ := proxyFor(t, bundletest.Bundle(), Options{Service: "cart"}, up.URL)
	clients := map[string]*http.Client{"http1": {Transport: &http.Transport{}}, "h2c": h2cClient()}
	for name, c := range clients {
		for _, method := range []string{"POST", "PUT", "PATCH"} {
			t.Run(name+" "+method, func(t *testing.T) {
				req, _ := http.NewRequest(method, px.URL+"/items", strings.NewReader("hello"))
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				head, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if got := headerLines(string(head), "Content-Length"); len(got) != 1 || got[0] != "5" {
					t.Errorf("the upstream got Content-Length %q, want [5]; head:\n%s", got, head)
				}
			})
		}
	}
}

// TestXForwardedFor: the client's address is appended to X-Forwarded-For.
func TestXForwardedFor(t *testing.T) {
	up := newRawUpstream(t)
	px, _ := proxyFor(t, bundletest.Bundle(), Options{Service: "cart"}, up.URL)
	clients := map[string]*http.Client{"http1": {Transport: &http.Transport{}}, "h2c": h2cClient()}
	for name, c := range clients {
		for _, prior := range []string{"", "10.0.0.1"} {
			t.Run(name+" prior="+prior, func(t *testing.T) {
				req, _ := http.NewRequest("GET", px.URL+"/", nil)
				if prior != "" {
					req.Header.Set("X-Forwarded-For", prior)
				}
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				head, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := "127.0.0.1"
				if prior != "" {
					want = prior + ", 127.0.0.1"
				}
				if got := headerLines(string(head), "X-Forwarded-For"); len(got) != 1 || got[0] != want {
					t.Errorf("X-Forwarded-For %q, want [%q]", got, want)
				}
			})
		}
	}
}

// rawExchange sends raw bytes to addr and returns the status line of the
// answer ("" when the connection closed without one).
func rawExchange(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line)
}

// TestRequestValidation: what net/http's server refuses with 400 the proxy
// refuses too, on the path http.ReadRequest reads (which skips the
// server's checks); CONNECT is refused with 405 instead of reaching the
// upstream as "CONNECT /"; the rest is forwarded.
func TestRequestValidation(t *testing.T) {
	up := newRawUpstream(t)
	px, _ := proxyFor(t, bundletest.Bundle(), Options{Service: "cart"}, up.URL)
	addr := strings.TrimPrefix(px.URL, "http://")
	cases := []struct {
		name, raw string
		status    string
	}{
		{"space before colon", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"space before colon with length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding : chunked\r\n\r\nhello", "HTTP/1.1 400 Bad Request"},
		{"host with space", "GET / HTTP/1.1\r\nHost: a b/c?d\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"host not UTF-8", "GET / HTTP/1.1\r\nHost: \xff\xfe.example\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"host UTF-8", "GET / HTTP/1.1\r\nHost: \xc3\xa9.example\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"absolute form without host", "GET http://example.com/ HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"control byte in value", "GET /%20 HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"method only", "A HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 400 Bad Request"}, // panicked the fast parser: the whole sidecar
		{"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "HTTP/1.1 405 Method Not Allowed"},
		// forwarded: the fallback path's ordinary requests
		{"percent path", "GET /a%20b HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 200 OK"},
		{"body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "HTTP/1.1 200 OK"},
		{"absolute form with host", "GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n", "HTTP/1.1 200 OK"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := up.count.Load()
			got := rawExchange(t, addr, c.raw)
			if got != c.status {
				t.Errorf("answer %q, want %q", got, c.status)
			}
			forwarded := up.count.Load() - before
			if want := int64(b2i(strings.HasSuffix(c.status, "200 OK"))); forwarded != want {
				t.Errorf("forwarded %d requests to the upstream, want %d", forwarded, want)
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// limitedProxy serves an h1.Server with limits lim in front of an ok
// upstream, on a listener that wrap (if set) wraps; Serve's result goes to
// done (if set). It returns the server and its address.
func limitedProxy(t *testing.T, lim h1.Limits, wrap func(net.Listener) net.Listener, done chan<- error) (*h1.Server, string) {
	t.Helper()
	up := okUpstream(t)
	inj, err := New(bundletest.Bundle(), Options{Service: "cart", Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	upstream, _ := NewUpstream(up.URL, ProxyOptions{Now: time.Now})
	t.Cleanup(upstream.Close)
	real, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener = real
	if wrap != nil {
		ln = wrap(real)
	}
	s := h1.NewServer(inj.Handler(upstream), slog.New(slog.DiscardHandler), lim, nil)
	go func() {
		err := s.Serve(ln)
		if done != nil {
			done <- err
		}
	}()
	t.Cleanup(func() { s.Close() })
	return s, real.Addr().String()
}

// flakyListener fails its first n accepts with err.
type flakyListener struct {
	net.Listener
	n   atomic.Int64
	err error
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, l.err
	}
	return l.Listener.Accept()
}

// TestAcceptErrorsRetried: an accept that fails (EMFILE: out of file
// descriptors) is retried after a pause; the proxy used to return from
// Serve, and `chaosgen inject` to exit.
func TestAcceptErrorsRetried(t *testing.T) {
	done := make(chan error, 1)
	s, addr := limitedProxy(t, h1.Limits{HeadTimeout: time.Second, IdleTimeout: time.Minute}, func(real net.Listener) net.Listener {
		ln := &flakyListener{Listener: real, err: &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}}
		ln.n.Store(4)
		return ln
	}, done)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("after accept errors: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v", err)
	default:
	}
	if n := s.AcceptErrors(); n != 4 {
		t.Errorf("accept errors counted %d, want 4", n)
	}
}

// TestConnectionCap: at MaxConns open client connections the proxy accepts
// no more until one closes.
func TestConnectionCap(t *testing.T) {
	s, addr := limitedProxy(t, h1.Limits{HeadTimeout: time.Second, IdleTimeout: time.Minute, MaxConns: 2}, nil, nil)
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitFor(t, "2 open connections", func() bool { return s.OpenConns() == 2 })
	third, err := net.Dial("tcp", addr) // completes in the kernel's backlog
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	time.Sleep(100 * time.Millisecond)
	if n := s.OpenConns(); n != 2 {
		t.Fatalf("%d open connections at a cap of 2", n)
	}
	held[0].Close()
	io.WriteString(third, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(third).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
		t.Errorf("the third connection after one closed: %q, %v", line, err)
	}
	held[1].Close()
}

// waitFor polls cond for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCorruptBounded: a corrupt fault holds at most CorruptMaxBytes of a
// response; a larger one passes through unchanged and is counted (it used
// to be read whole: a 2 GB response took 5 GB of memory).
func TestCorruptBounded(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<14) // 256 KiB
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if r.URL.Path == "/small" {
			w.Write(big[:1000])
			return
		}
		for i := 0; i < len(big); i += 4096 { // written in pieces, as a stream is
			w.Write(big[i : i+4096])
		}
	})
	b := bundletest.Bundle(profile("corrupt", "cart", 1, bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptTruncate}))
	opts := Options{Service: "cart", Now: time.Now, CorruptMaxBytes: 64 << 10}
	t.Run("handler", func(t *testing.T) {
		inj, _ := New(b, opts)
		srv := httptest.NewServer(inj.Handler(upstream))
		defer srv.Close()
		check := func(path string, wantLen int, wantFault bool) {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(body) != wantLen {
				t.Errorf("%s: %d bytes, want %d", path, len(body), wantLen)
			}
			if got := resp.Header.Get(HeaderFault) != ""; got != wantFault {
				t.Errorf("%s: fault header %v, want %v", path, got, wantFault)
			}
		}
		check("/small", 500, true)
		check("/big", len(big), false)
		if n := testutilCounter(t, inj, "chaosgen_inject_corrupt_passed_total"); n != 1 {
			t.Errorf("corrupt_passed_total %v, want 1", n)
		}
	})
	t.Run("event stream", func(t *testing.T) {
		// The first event reaches the client while the stream is still
		// open: it is passed through from its first flush, not held.
		release := make(chan struct{})
		events := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: 1\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			io.WriteString(w, "data: 2\n\n")
		})
		inj, _ := New(b, opts)
		srv := httptest.NewServer(inj.Handler(events))
		defer srv.Close()
		defer close(release)
		c := &http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(srv.URL + "/events")
		if err != nil {
			t.Fatalf("the stream's head did not come while it was open: %v", err)
		}
		defer resp.Body.Close()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if err != nil || line != "data: 1\n" {
			t.Errorf("first event %q, %v", line, err)
		}
	})
	t.Run("transport", func(t *testing.T) {
		srv := httptest.NewServer(upstream)
		defer srv.Close()
		o := opts
		o.Callee = func(*http.Request) string { return "cart" }
		inj, _ := New(b, o)
		c := &http.Client{Transport: inj.Transport(nil)}
		resp, err := c.Get(srv.URL + "/big")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(body, big) || resp.Header.Get(HeaderFault) != "" {
			t.Errorf("a body over the limit: %d bytes, fault header %q; want it unchanged", len(body), resp.Header.Get(HeaderFault))
		}
		if n := testutilCounter(t, inj, "chaosgen_inject_corrupt_passed_total"); n != 1 {
			t.Errorf("corrupt_passed_total %v, want 1", n)
		}
	})
}

// testutilCounter reads a metric without labels from the injector's
// registry.
func testutilCounter(t *testing.T, inj *Injector, name string) float64 {
	t.Helper()
	mfs, err := inj.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestDelayOverflowRefused: delays beyond time.Duration used to pass
// validation and silently become no delay.
func TestDelayOverflowRefused(t *testing.T) {
	for _, f := range []bundle.Fault{
		{Type: bundle.FaultLatency, DelayMs: 1e300},
		{Type: bundle.FaultLatency, DelayMs: 1e13},
		{Type: bundle.FaultLatency, DelayMs: 100, JitterMs: 1e13},
		{Type: bundle.FaultLatency, Factor: 1e300},
	} {
		b := bundletest.Bundle(profile("slow", "cart", 0.1, f))
		err := b.Validate()
		if !errors.Is(err, bundle.ErrInvalid) {
			t.Errorf("%+v: %v, want a validation error", f, err)
		}
	}
	ok := bundletest.Bundle(profile("slow", "cart", 0.1, bundle.Fault{Type: bundle.FaultLatency, DelayMs: bundle.MaxDelayMs, Factor: bundle.MaxFactor}))
	if err := ok.Validate(); err != nil {
		t.Errorf("the largest delay and factor: %v", err)
	}
	if d := factorDelay(&bundle.Fault{Factor: 1e300}, time.Hour); d <= 0 {
		t.Errorf("factorDelay overflowed to %v", d)
	}
}

// TestRecordsKeepNoRequestData: a record holds copies of at most
// maxRecordField bytes of what it takes from a request (a 300 KB path was
// kept whole, with the request head it was cut from).
func TestRecordsKeepNoRequestData(t *testing.T) {
	dir := t.TempDir()
	rec, err := NewRecorder(RecorderOptions{Dir: dir, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	inj, _ := New(bundletest.Bundle(), Options{Service: "cart", Now: time.Now, Records: rec})
	h := inj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	path := "/" + strings.Repeat("p", 300<<10)
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set(HeaderCaller, strings.Repeat("c", 5000))
	h.ServeHTTP(httptest.NewRecorder(), req)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	spans, err := ingest.ReadFile(rec.Files()[0])
	if err != nil {
		t.Fatal(err)
	}
	s := spans[0]
	if want := "GET " + path[:maxRecordField]; s.Operation != want {
		t.Errorf("operation of %d bytes, want %d", len(s.Operation), len(want))
	}
	if len(s.Caller) != maxRecordField {
		t.Errorf("caller of %d bytes, want %d", len(s.Caller), maxRecordField)
	}
}

// TestRecordCountersOnWriteFailure: records lost to a failed write are
// counted as dropped, never as written (on a full disk
// records_written_total counted rows that were never written).
func TestRecordCountersOnWriteFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "records")
	rec, err := NewRecorder(RecorderOptions{Dir: dir, Now: time.Now, FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	span := &ingest.Span{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Callee: "c", Operation: "GET /"}
	for range 10 {
		rec.Record(span)
	}
	waitFor(t, "the writer", func() bool { return rec.taken.Load() == 10 })
	// A file where the directory was: the open record file (or, if the
	// writer has not opened it yet, any file) can no longer be completed.
	// The writer may create the directory again between the removal and
	// the file (it makes its directory before each new file): try again.
	for try := 0; ; try++ {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		err := os.WriteFile(dir, nil, 0o644)
		if err == nil {
			break
		}
		if try == 100 {
			t.Fatal(err)
		}
	}
	for range 5 {
		rec.Record(span)
	}
	if err := rec.Close(); err == nil {
		t.Error("Close reported no error")
	}
	if rec.Written() != 0 || rec.Dropped() != 15 {
		t.Errorf("written %d, dropped %d; want 0 and 15", rec.Written(), rec.Dropped())
	}
}

// TestIdleTimeout: a keep-alive client connection with no request for
// IdleTimeout is closed (idle connections were kept 5 minutes).
func TestIdleTimeout(t *testing.T) {
	s, addr := limitedProxy(t, h1.Limits{HeadTimeout: time.Second, IdleTimeout: 300 * time.Millisecond}, nil, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the idle connection was not closed: %v", err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", waited)
	}
	waitFor(t, "the slot to be freed", func() bool { return s.OpenConns() == 0 })
}
