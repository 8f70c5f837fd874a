package inject

import (
	"bytes"
	"crypto/ed25519"
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
	"golang.org/x/crypto/ssh"
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

// testBundle is a valid bundle with the given profiles, no guard in the
// way (maxGlobalRate 1, no abortIf) and an expiry in 2030.
func testBundle(profiles ...bundle.Profile) *bundle.Bundle {
	for i := range profiles {
		p := &profiles[i]
		if p.MaxRate < p.Rate {
			p.MaxRate = p.Rate
		}
		if p.Severity == "" {
			p.Severity = bundle.SeverityMinor
		}
		if p.Rationale.Summary == "" {
			p.Rationale.Summary = "test"
		}
	}
	return &bundle.Bundle{
		APIVersion: bundle.APIVersion, Kind: bundle.Kind,
		Metadata: bundle.Metadata{Name: "test", Generator: "inject test", Seed: 42,
			NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
			Source: bundle.Source{Files: []bundle.SourceFile{}, TimeRange: bundle.TimeRange{
				Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}}},
		Guards:   bundle.Guards{MaxGlobalRate: 1},
		Profiles: profiles,
	}
}

func profile(id, callee string, rate float64, f bundle.Fault) bundle.Profile {
	return bundle.Profile{ID: id, Target: bundle.Target{Callee: callee}, Rate: rate, Fault: f}
}

// signed writes b and its signature into dir with a fresh key and
// returns the bundle path and the public key path.
func signed(t testing.TB, dir string, b *bundle.Bundle) (bundlePath, pubPath string) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubPath = filepath.Join(dir, "ci.pub")
	if err := os.WriteFile(pubPath, append(bytes.TrimSpace(ssh.MarshalAuthorizedKey(signer.PublicKey())), " ci@test\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	bundlePath = filepath.Join(dir, "bundle.json")
	writeSigned(t, bundlePath, b)
	return bundlePath, pubPath
}

func writeSigned(t testing.TB, path string, b *bundle.Bundle) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	signer, _ := ssh.NewSignerFromKey(priv)
	data, err := bundle.Encode(b)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := bundle.SignWith(data, signer)
	if err != nil {
		t.Fatal(err)
	}
	// write to temp files and rename, as a deploy would
	for _, f := range []struct {
		path string
		data []byte
	}{{path, data}, {path + ".sig", sig}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
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
// served as Serve serves it (proxyServer, with net/http for h2c and the
// requests proxyServer hands off).
func proxyFor(t testing.TB, b *bundle.Bundle, opts Options, upstream string) (*testProxy, *Injector) {
	t.Helper()
	p, inj, _ := proxyWithPoll(t, b, opts, upstream, 0)
	return p, inj
}

// proxyWithPoll is proxyFor with busy polling (--busy-poll) for budget > 0;
// it also returns the polling policy (nil when off).
func proxyWithPoll(t testing.TB, b *bundle.Bundle, opts Options, upstream string, budget time.Duration) (*testProxy, *Injector, *busyPoll) {
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
	bp := newBusyPoll(budget)
	up.bp = bp
	s := newProxyServer(inj.Handler(up), slog.New(slog.DiscardHandler), serverLimits{HeadTimeout: 30 * time.Second, IdleTimeout: 5 * time.Minute}, bp)
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
