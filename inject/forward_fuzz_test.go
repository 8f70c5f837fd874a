package inject

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/inject/internal/h1"
)

// FuzzParseRequestDifferential feeds the same bytes to the proxy's
// HTTP/1.1 server (the fast parser, and http.ReadRequest with net/http's
// server checks behind it) and to net/http's server, and requires the same
// decision (forwarded or refused) and the same forwarded request: the
// bytes writeRequest sends upstream, header lines sorted. Connections the
// proxy hands to net/http's server are net/http's decisions by
// construction and are not compared. `go test` runs the seeds; CI fuzzes
// for a bounded time (.ci/run).
func FuzzParseRequestDifferential(f *testing.F) {
	for _, s := range []string{
		"GET /x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x?y=1&z=%41 HTTP/1.1\r\nHost: a:80\r\nUser-Agent: t\r\naccept: */*\r\nX-A: 1\r\nx-a:  2 \t\r\n\r\n",
		"GET /a? HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b/c?d\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: \xff.example\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b c\r\n\r\n",
		"GET / HTTP/1.1\r\nhost:\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nX: 1\r\nHost: a\r\n\tb\r\n\r\n",
		"GET http://example.com/ HTTP/1.1\r\n\r\n",
		"GET http://example.com/ HTTP/1.1\r\nHost: other\r\n\r\n",
		"GET /%41%2f HTTP/1.1\r\nHost: a\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX\x7f: a\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 10.0.0.1\r\nConnection: X-Forwarded-For\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nKeep-Alive: 1\r\n\r\n",
		"DELETE /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\n",
		"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
		"GET /x HTTP/1.0\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, handed := proxyForwards(data)
		if handed {
			return
		}
		want := netHTTPForwards(t, data)
		if got != want {
			t.Errorf("input %q:\nproxy   %s\nnet/http %s", data, got, want)
		}
	})
}

// fuzzRemote is the client address both servers see.
const fuzzRemote = "192.0.2.1:40000"

// forwardedString describes a decision: "refused", or the request as
// writeRequest sends it upstream (request line, sorted header lines,
// body) and whether writing it failed.
func forwardedString(req *http.Request) string {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	err := writeRequest(bw, req, "upstream", false)
	bw.Flush()
	out := buf.String()
	head, body, _ := strings.Cut(out, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	slices.Sort(lines[1:])
	s := "forwarded " + strings.Join(lines, " | ") + " || body " + body
	if err != nil {
		s += " (error)"
	}
	return s
}

// proxyForwards runs h1.Server's request reading on data.
func proxyForwards(data []byte) (string, bool) {
	req, handed, err := h1.ReadOneRequest(newFuzzConn(data), fuzzRemote, time.Second)
	switch {
	case handed:
		return "", true
	case err != nil:
		return "refused", false
	}
	return forwardedString(req), false
}

// The net/http server the inputs are compared with, configured as the
// proxy's fallback server is; one connection at a time.
var fuzzNetHTTP struct {
	once sync.Once
	mu   sync.Mutex
	ln   *chanListener
	got  chan string // the first request's forwarded form
}

// netHTTPForwards serves data on net/http's server and returns its
// decision on the first request.
func netHTTPForwards(t *testing.T, data []byte) string {
	f := &fuzzNetHTTP
	f.once.Do(func() {
		f.ln = &chanListener{ch: make(chan net.Conn)}
		f.got = make(chan string, 1)
		var protos http.Protocols
		protos.SetHTTP1(true)
		protos.SetUnencryptedHTTP2(true)
		srv := &http.Server{
			Protocols:                    &protos,
			ReadHeaderTimeout:            time.Second,
			DisableGeneralOptionsHandler: true,
			ErrorLog:                     slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case f.got <- forwardedString(r):
				default: // a later request on the same connection
				}
			}),
		}
		go srv.Serve(f.ln)
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	fc := newFuzzConn(data)
	f.ln.ch <- fc
	select {
	case <-fc.closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("net/http's server did not close the connection for %q", data)
	}
	select {
	case s := <-f.got:
		return s
	default:
		return "refused"
	}
}

type chanListener struct{ ch chan net.Conn }

func (l *chanListener) Accept() (net.Conn, error) { return <-l.ch, nil }
func (l *chanListener) Close() error              { return nil }
func (l *chanListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }

// fuzzConn reads data, then EOF; writes are discarded.
type fuzzConn struct {
	r      *bytes.Reader
	once   sync.Once
	closed chan struct{}
}

func newFuzzConn(data []byte) *fuzzConn {
	return &fuzzConn{r: bytes.NewReader(data), closed: make(chan struct{})}
}

func (c *fuzzConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if errors.Is(err, io.EOF) && n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
func (c *fuzzConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *fuzzConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}
func (c *fuzzConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *fuzzConn) RemoteAddr() net.Addr {
	a, _ := net.ResolveTCPAddr("tcp", fuzzRemote)
	return a
}
func (c *fuzzConn) SetDeadline(time.Time) error      { return nil }
func (c *fuzzConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fuzzConn) SetWriteDeadline(time.Time) error { return nil }
