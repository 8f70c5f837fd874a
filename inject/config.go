package inject

import (
	"net/url"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/internal/usage"
)

// DefaultListen and DefaultAdmin are the addresses of chaosgen inject's
// proxy and admin API: ports no common sidecar or
// service uses (Istio takes 15000-15090, Linkerd 4140-4191, Envoy's admin
// 9901, Dapr 3500 and 50001, Consul 8500-8600 and 21000+, Prometheus and
// its exporters 9090-9999, OpenTelemetry 4317-4318, apps 3000, 5000, 8000,
// 8080, 8443). See docs/inject.md.
const (
	DefaultListen = "127.0.0.1:7450"
	DefaultAdmin  = "127.0.0.1:7451"
)

// MaxBusyPoll bounds Config.BusyPoll: longer polls burn CPU for waits that
// sleeping serves as well.
const MaxBusyPoll = 10 * time.Millisecond

// Check reports what makes c unusable as chaosgen inject's flags fill it
// (where Serve would otherwise fall back to a default): no bundle, signer,
// upstream or service, an upstream that is not an http(s) URL, a busy-poll
// budget out of range, a negative connection cap, timeouts or a corrupt
// buffer that are not positive. Its errors match usage.Err and name the
// flags.
func (c *Config) Check() error {
	switch {
	case c.Bundle == "":
		return usage.Errorf("--bundle is required")
	case c.Verify.Check(true) != nil:
		return c.Verify.Check(true)
	case c.Upstream == "":
		return usage.Errorf("--upstream is required")
	case c.Service == "":
		return usage.Errorf("--service is required")
	case checkUpstream(c.Upstream) != nil:
		return checkUpstream(c.Upstream)
	case c.BusyPoll < 0 || c.BusyPoll > MaxBusyPoll:
		return usage.Errorf("--busy-poll %s: want 0 (off) to %s; 20us-100us is typical", c.BusyPoll, MaxBusyPoll)
	case c.MaxConns < 0:
		return usage.Errorf("--max-conns %d: want 0 (from the open file limit) or a positive cap", c.MaxConns)
	case c.IdleTimeout <= 0 || c.HeadTimeout <= 0:
		return usage.Errorf("--idle-timeout and --header-timeout must be positive")
	case c.CorruptMaxBytes <= 0:
		return usage.Errorf("--corrupt-max-bytes must be positive")
	}
	return nil
}

// checkUpstream refuses an --upstream that is not an http:// or https://
// URL with a host, saying what to write instead.
func checkUpstream(s string) error {
	u, err := url.Parse(s)
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return nil
	}
	if !strings.Contains(s, "://") {
		return usage.Errorf("--upstream %s has no scheme: write http://%s", s, s)
	}
	return usage.Errorf("--upstream %s: want an http:// URL such as http://127.0.0.1:8080", s)
}
