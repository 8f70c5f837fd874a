package inject

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/inject/internal/h1"
)

// Config is what `chaosgen inject` runs: a verified bundle applied by a
// reverse proxy in front of one upstream, an admin API, and records.
type Config struct {
	Bundle          string               // bundle.json; its signature is Verify.Signature or Bundle+".sig"
	Verify          bundle.VerifyOptions // PublicKey or AllowedSigners+Identity; Now is set from Now
	Listen          string               // proxy address, e.g. 127.0.0.1:7450
	Upstream        string               // http://host:port
	Service         string               // the upstream's service name: the callee
	Caller          string               // default caller
	Admin           string               // admin address; empty: no admin API
	AdminTokenFile  string               // bearer token for admin mutations; empty: mutations refused
	Records         string               // directory for span records; empty: none
	RecordsMaxSize  int64                // rotate record files at about this many bytes
	RecordsMaxAge   time.Duration        // and after this long
	Poll            time.Duration        // how often to check the bundle files for changes; default 1s
	BusyPoll        time.Duration        // poll an empty socket this long before parking (see h1.BusyPoll); 0: off
	HeadTimeout     time.Duration        // bound on reading a request head; default DefaultHeadTimeout
	IdleTimeout     time.Duration        // close client connections idle this long; default DefaultIdleTimeout
	MaxConns        int                  // cap on open client connections; 0: AutoMaxConns, < 0: none
	KillFile        string               // a file whose content turns the kill switch on (see KillFileOn); empty: none
	CorruptMaxBytes int                  // Options.CorruptMaxBytes
	Version         string               // the binary's version, for chaosgen_build_info
	Now             func() time.Time     // the clock; required
	Hangup          <-chan os.Signal     // reload on every value (SIGHUP)
	Logger          *slog.Logger         // nil: discard
	// Ready, if set, is called with the proxy's and the admin API's
	// addresses once both listen.
	Ready func(proxy, admin string)
}

// Serve verifies the bundle and runs the proxy until ctx is done, then
// shuts down gracefully and completes the record files. A bundle that does
// not verify or has expired is refused with an error wrapping
// bundle.ErrInvalid.
func Serve(ctx context.Context, c Config) error {
	if c.Now == nil {
		return ErrNoClock
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.HeadTimeout <= 0 {
		c.HeadTimeout = DefaultHeadTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConns == 0 {
		c.MaxConns = AutoMaxConns()
	}
	load := func() (*bundle.Bundle, *bundle.SignatureInfo, error) {
		o := c.Verify
		o.Now = c.Now()
		return bundle.Verify(c.Bundle, o)
	}
	b, sig, err := load()
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	var token string
	if c.AdminTokenFile != "" {
		data, err := os.ReadFile(c.AdminTokenFile)
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		if token = strings.TrimSpace(string(data)); token == "" {
			return fmt.Errorf("admin token: %s is empty", c.AdminTokenFile)
		}
	}
	var rec *Recorder
	if c.Records != "" {
		rec, err = NewRecorder(RecorderOptions{Dir: c.Records, MaxFileBytes: c.RecordsMaxSize, MaxFileAge: c.RecordsMaxAge, Now: c.Now, Logger: log})
		if err != nil {
			return err
		}
		defer func() {
			if err := rec.Close(); err != nil {
				log.Error("records", "err", err)
			}
		}()
	}
	inj, err := New(b, Options{Service: c.Service, Caller: c.Caller, Now: c.Now, Signature: sig, Load: load, Records: rec, Logger: log,
		CorruptMaxBytes: c.CorruptMaxBytes})
	if err != nil {
		return err
	}
	up, err := NewUpstream(c.Upstream, ProxyOptions{Now: c.Now, Logger: log})
	if err != nil {
		return err
	}
	defer up.Close()

	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	bp := h1.NewBusyPoll(c.BusyPoll)
	up.bp = bp
	if bp != nil {
		for _, col := range bp.Collectors() {
			inj.metrics.reg.MustRegister(col)
		}
	}
	proxy := h1.NewServer(inj.Handler(up), log, h1.Limits{HeadTimeout: c.HeadTimeout, IdleTimeout: c.IdleTimeout, MaxConns: c.MaxConns}, bp)
	for _, col := range append(proxy.Collectors(), buildInfo(c.Version)) {
		inj.metrics.reg.MustRegister(col)
	}
	var ready atomic.Bool // /readyz: the proxy listens and is not shutting down
	servers := []stopper{proxy}
	errc := make(chan error, 2)
	go func() { errc <- proxy.Serve(ln) }()
	adminAddr := ""
	if c.Admin != "" {
		aln, err := net.Listen("tcp", c.Admin)
		if err != nil {
			proxy.Close()
			return fmt.Errorf("admin: %w", err)
		}
		if ip := aln.Addr().(*net.TCPAddr).IP; !ip.IsLoopback() {
			log.Warn("the admin API listens beyond loopback; protect it", "addr", aln.Addr().String())
		}
		admin := &http.Server{Handler: withProbes(inj.AdminHandler(token), &ready), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, admin)
		go func() { errc <- admin.Serve(aln) }()
		adminAddr = aln.Addr().String()
	}
	log.Info("injecting", "proxy", ln.Addr().String(), "upstream", c.Upstream, "admin", adminAddr,
		"service", c.Service, "bundle", b.Metadata.Name, "digest", sig.Digest, "signer", sig.Principal,
		"profiles", len(b.Profiles), "mutations", token != "", "max_conns", c.MaxConns,
		"idle_timeout", c.IdleTimeout.String(), "kill_file", c.KillFile)
	if bp != nil {
		log.Info("busy polling", "budget", c.BusyPoll.String(), "note", "polls only with GOMAXPROCS >= 2 and at most one request in flight")
	}
	var kill killFile
	if c.KillFile != "" {
		kill = killFile{path: c.KillFile, inj: inj, log: log}
		kill.check()
	}
	ready.Store(true)
	if c.Ready != nil {
		c.Ready(ln.Addr().String(), adminAddr)
	}

	files := []string{c.Bundle, c.Verify.Signature}
	if files[1] == "" {
		files[1] = c.Bundle + ".sig"
	}
	// A change is applied once the files have stayed the same for one poll
	// interval, so a bundle and its signature written one after the other
	// (as a git pull or a config map update does) are read together.
	last := fileStamps(files)
	seen := last
	tick := time.NewTicker(c.Poll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			ready.Store(false)
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var errs []error
			for _, s := range servers {
				if err := s.Shutdown(sctx); err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		case err := <-errc:
			for _, s := range servers {
				s.Close()
			}
			return err
		case <-c.Hangup:
			log.Info("SIGHUP: reloading the bundle")
			inj.Reload()
			last = fileStamps(files)
			seen = last
		case <-tick.C:
			inj.CheckGuards()
			if kill.path != "" {
				kill.check()
			}
			switch now := fileStamps(files); {
			case now != seen:
				seen = now // still changing: wait for it to settle
			case now != last:
				last = now
				log.Info("bundle files changed: reloading")
				inj.Reload()
			}
		}
	}
}

// Defaults of the proxy's client side (Config, `chaosgen inject` flags).
const (
	// DefaultHeadTimeout bounds reading a request head once it started:
	// a client that trickles a head (slowloris) is cut off.
	DefaultHeadTimeout = 10 * time.Second
	// DefaultIdleTimeout closes a keep-alive client connection with no
	// request for this long: longer than the 60s idle timeouts of common
	// load balancers in front, shorter than the 5 minutes that let idle
	// clients hold descriptors.
	DefaultIdleTimeout = 90 * time.Second
)

// Paths of the probes, served on the admin address.
const (
	HealthPath = "/healthz" // 200 while the process serves
	ReadyPath  = "/readyz"  // 200 once the proxy listens, 503 from shutdown on
)

// withProbes serves the liveness and readiness probes in front of the
// admin API.
func withProbes(admin http.Handler, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "not ready\n")
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("/", admin)
	return mux
}

// stopper is what Serve runs and stops: h1.Server and http.Server.
type stopper interface {
	Shutdown(context.Context) error
	Close() error
}

// fileStamps is the modification time and size of each file, as one
// comparable string.
func fileStamps(paths []string) string {
	var sb strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			sb.WriteString("missing;")
			continue
		}
		fmt.Fprintf(&sb, "%d:%d;", fi.ModTime().UnixNano(), fi.Size())
	}
	return sb.String()
}

// AutoMaxConns is the default cap on client connections: half the open
// file limit less 128 descriptors (records, the admin API, the bundle
// files, the listeners), since each client connection may hold an
// upstream connection too; at least 16, and 4096 when the limit is
// unknown or unlimited.
func AutoMaxConns() int {
	n := openFileLimit()
	if n == 0 || n > 1<<40 {
		return 4096
	}
	if n < 128+32 {
		return 16
	}
	return int(min((n-128)/2, 1<<20))
}
