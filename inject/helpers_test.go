package inject

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/inject/internal/h1"
	"github.com/chaosgen/chaosgen/internal/testkey"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func profile(id, callee string, rate float64, f bundle.Fault) bundle.Profile {
	return bundle.Profile{ID: id, Target: bundle.Target{Callee: callee}, Rate: rate, Fault: f}
}

// signed writes b and its signature into dir with the test key of seed 7
// and returns the bundle path and the public key path.
func signed(t testing.TB, dir string, b *bundle.Bundle) (bundlePath, pubPath string) {
	t.Helper()
	pubPath = filepath.Join(dir, "ci.pub")
	if err := os.WriteFile(pubPath, []byte(testkey.AuthorizedLine(testkey.Signer(7), "ci@test")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bundlePath = filepath.Join(dir, "bundle.json")
	writeSigned(t, bundlePath, b)
	return bundlePath, pubPath
}

// writeSigned replaces path and path.sig atomically, as a deploy would.
func writeSigned(t testing.TB, path string, b *bundle.Bundle) {
	t.Helper()
	if _, err := bundle.Write(path, b, testkey.Signer(7)); err != nil {
		t.Fatal(err)
	}
}

// h2cServer starts an httptest server speaking HTTP/1.1 and h2c.
func h2cServer(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	s.Config.Protocols = &p
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// testProxy is a proxy started by proxyFor.
type testProxy struct{ URL string }

// proxyFor starts a proxy for service in front of upstream with bundle b,
// served as Serve serves it (h1.Server, with net/http for h2c and the
// requests h1.Server hands off).
func proxyFor(t testing.TB, b *bundle.Bundle, opts Options, upstream string) (*testProxy, *Injector) {
	t.Helper()
	p, inj, _ := proxyWithPoll(t, b, opts, upstream, 0)
	return p, inj
}

// proxyWithPoll is proxyFor with busy polling (--busy-poll) for budget > 0;
// it also returns the polling policy (nil when off).
func proxyWithPoll(t testing.TB, b *bundle.Bundle, opts Options, upstream string, budget time.Duration) (*testProxy, *Injector, *h1.BusyPoll) {
	t.Helper()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	inj, err := New(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	up, err := NewUpstream(upstream, ProxyOptions{Now: opts.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(up.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bp := h1.NewBusyPoll(budget)
	up.bp = bp
	s := h1.NewServer(inj.Handler(up), slog.New(slog.DiscardHandler), h1.Limits{HeadTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute}, bp)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return &testProxy{URL: "http://" + ln.Addr().String()}, inj, bp
}

func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// traceparent returns a W3C traceparent header for trace number i.
func traceparent(r *rand.Rand) (header, traceID string) {
	traceID = fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
	return "00-" + traceID + "-" + fmt.Sprintf("%016x", r.Uint64()|1) + "-01", traceID
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
