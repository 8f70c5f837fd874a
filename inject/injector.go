package inject

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/guard"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure an Injector and the middleware built on it.
type Options struct {
	// Service is the service the injector stands in front of: the callee
	// of the requests that Handler and the proxy serve. For Transport it is
	// the calling service when Caller is empty.
	Service string
	// Caller is the calling service of requests without an
	// X-Chaosgen-Caller header.
	Caller string
	// Callee names the service a client request goes to (Transport only);
	// the default is the request URL's host name without the port.
	Callee func(*http.Request) string
	// Now is the clock: expiry, scenario expiry, the per-second caps, the
	// guard windows and the records read it. Required.
	Now func() time.Time
	// Random draws fresh trace and span ids, jitter and corruption
	// positions; the default is math/rand/v2's generator.
	Random func() uint64
	// Signature describes who signed the bundle, for /status; optional.
	Signature *bundle.SignatureInfo
	// Load re-reads and verifies the bundle for Reload (POST /reload,
	// SIGHUP, a changed file). Nil: reloading is refused.
	Load func() (*bundle.Bundle, *bundle.SignatureInfo, error)
	// Records receives a span record per request; nil: no records.
	Records *Recorder
	// Logger receives guard trips, reloads and internal errors; nil: discard.
	Logger *slog.Logger
	// GuardWindow is the sliding window of maxGlobalRate and abortIf;
	// default guard.DefaultWindow (10s).
	GuardWindow time.Duration
	// GuardMinRequests is how many requests the window needs before
	// abortIf may trip, and the least maxGlobalRate is taken of; default
	// guard.DefaultMinRequests (20).
	GuardMinRequests int64
	// RetryWindow is how long a (trace, operation) pair is remembered to
	// count retries; default 10s.
	RetryWindow time.Duration
	// CorruptMaxBytes is the largest response body a corrupt fault holds
	// to rewrite; a larger one passes through unchanged, counted in
	// chaosgen_inject_corrupt_passed_total. Default DefaultCorruptMaxBytes.
	CorruptMaxBytes int
}

// active is a profile as the injector runs it: from the bundle or a
// scenario, with its live counters and per-second bucket.
type active struct {
	p        bundle.Profile
	scenario bool
	expires  time.Time // scenarios only
	stats    *ProfileStats
	bucket   *guard.Bucket      // nil without a perSecond cap
	inject   prometheus.Counter // injections metric, by profile and type
}

// ProfileStats are the live counters of one profile id; they survive
// reloads.
type ProfileStats struct {
	Matched    atomic.Int64 // requests the target matched
	Fired      atomic.Int64 // matched requests the decision hash selected
	Injected   atomic.Int64 // fired requests that got the fault
	Suppressed atomic.Int64 // fired requests a guard, the kill switch or the perSecond cap let through
}

// config is one bundle as the injector runs it; replaced as a whole on
// reload.
type config struct {
	b        *bundle.Bundle
	sig      *bundle.SignatureInfo
	digest   string
	profiles []*active // bundle profiles that can match this injector's requests
	limits   guard.Limits
	loadedAt time.Time
}

// Injector applies a bundle's profiles to requests: the decision, the
// guards, the kill switch, scenarios, counters and records. Handler,
// Transport and the proxy share one Injector; it is safe for concurrent use.
type Injector struct {
	opts   Options
	now    func() time.Time
	random func() uint64
	log    *slog.Logger

	cfg       atomic.Pointer[config]
	scenarios atomic.Pointer[[]*active]
	mu        sync.Mutex // serialises reloads, scenario changes and breaker trips
	stats     map[string]*ProfileStats

	killed      atomic.Bool
	expiredSeen atomic.Bool
	guard       *guard.Guard // the window, maxActiveFaults and the breaker
	retries     *retryTable
	metrics     *metrics

	internalErrors atomic.Int64
	requests       atomic.Int64
}

// ErrNoClock is returned by New when Options.Now is nil.
var ErrNoClock = errors.New("inject: Options.Now is required")

// New returns an Injector running bundle b. b must have been verified
// (bundle.Verify); New refuses one that has expired at opts.Now().
func New(b *bundle.Bundle, opts Options) (*Injector, error) {
	if opts.Now == nil {
		return nil, ErrNoClock
	}
	if b == nil {
		return nil, errors.New("inject: no bundle")
	}
	if err := b.CheckExpiry(opts.Now()); err != nil {
		return nil, err
	}
	if opts.Random == nil {
		opts.Random = rand.Uint64
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.GuardWindow <= 0 {
		opts.GuardWindow = guard.DefaultWindow
	}
	if opts.RetryWindow <= 0 {
		opts.RetryWindow = 10 * time.Second
	}
	inj := &Injector{
		opts:    opts,
		now:     opts.Now,
		random:  opts.Random,
		log:     opts.Logger,
		stats:   map[string]*ProfileStats{},
		guard:   guard.New(guard.Options{Window: opts.GuardWindow, MinRequests: opts.GuardMinRequests}),
		retries: newRetryTable(opts.RetryWindow),
	}
	inj.metrics = newMetrics(inj)
	inj.scenarios.Store(new([]*active))
	inj.install(b, opts.Signature)
	return inj, nil
}

// install swaps in bundle b. Callers hold inj.mu or are New.
func (inj *Injector) install(b *bundle.Bundle, sig *bundle.SignatureInfo) {
	now := inj.now()
	c := &config{b: b, sig: sig, loadedAt: now, limits: guard.LimitsFor(b.Guards, inj.opts.Service)}
	if sig != nil {
		c.digest = sig.Digest
	} else if data, err := bundle.Encode(b); err == nil {
		c.digest = bundle.Digest(data)
	}
	for i := range b.Profiles {
		p := b.Profiles[i]
		if !inj.isClient() && p.Target.Callee != inj.opts.Service {
			continue // can never match a request this injector serves
		}
		c.profiles = append(c.profiles, inj.activate(p, false, time.Time{}, now))
	}
	inj.cfg.Store(c)
	inj.expiredSeen.Store(false)
}

// isClient reports whether the injector was built for Transport, where
// the callee varies by request.
func (inj *Injector) isClient() bool { return inj.opts.Callee != nil }

func (inj *Injector) activate(p bundle.Profile, scenario bool, expires, now time.Time) *active {
	st := inj.stats[p.ID]
	if st == nil {
		st = new(ProfileStats)
		inj.stats[p.ID] = st
	}
	a := &active{p: p, scenario: scenario, expires: expires, stats: st, inject: inj.metrics.injection(p.ID, p.Fault.Type)}
	a.bucket = guard.NewBucket(p.PerSecond)
	return a
}

// Bundle returns the bundle the injector runs.
func (inj *Injector) Bundle() *bundle.Bundle { return inj.cfg.Load().b }

// Kill stops all injection until Resume: requests pass through unchanged.
func (inj *Injector) Kill() {
	if !inj.killed.Swap(true) {
		inj.log.Warn("kill switch on: injection stopped")
	}
}

// Resume turns the kill switch off and closes a tripped guard breaker.
func (inj *Injector) Resume() {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	if inj.killed.Swap(false) {
		inj.log.Info("kill switch off: injection resumed")
	}
	if t := inj.guard.Reset(); t != nil {
		inj.log.Info("guard breaker reset: injection resumed", "was", t.Reason())
	}
}

// Reload re-reads the bundle with Options.Load. A bundle that does not
// verify, is malformed or has expired is rejected and the running one
// stays; the error says why.
func (inj *Injector) Reload() error {
	if inj.opts.Load == nil {
		return errors.New("inject: reload: no bundle loader configured")
	}
	b, sig, err := inj.opts.Load()
	if err == nil {
		err = b.CheckExpiry(inj.now())
	}
	if err != nil {
		inj.metrics.reloads.WithLabelValues("rejected").Inc()
		inj.log.Error("bundle reload rejected; the running bundle stays", "err", err)
		return fmt.Errorf("reload rejected, the running bundle stays: %w", err)
	}
	return inj.Swap(b, sig)
}

// Swap installs a verified bundle atomically: requests in flight finish
// with the old one, the next ones see the new one.
func (inj *Injector) Swap(b *bundle.Bundle, sig *bundle.SignatureInfo) error {
	if err := b.CheckExpiry(inj.now()); err != nil {
		inj.metrics.reloads.WithLabelValues("rejected").Inc()
		return fmt.Errorf("reload rejected, the running bundle stays: %w", err)
	}
	inj.mu.Lock()
	defer inj.mu.Unlock()
	old := inj.cfg.Load()
	inj.install(b, sig)
	c := inj.cfg.Load()
	inj.metrics.reloads.WithLabelValues("ok").Inc()
	if old.digest != c.digest {
		inj.log.Info("bundle loaded", "name", b.Metadata.Name, "digest", c.digest, "profiles", len(b.Profiles))
	}
	return nil
}

// Scenario is a temporary profile added to the running bundle through the
// admin API: it applies until Expires, then disappears by itself.
type Scenario struct {
	Profile bundle.Profile `json:"profile"`
	Expires time.Time      `json:"expires"`
}

// AddScenario validates p as a profile of the running bundle and applies it
// for d. A scenario with the id of another scenario replaces it; one with
// the id of a bundle profile is refused.
func (inj *Injector) AddScenario(p bundle.Profile, d time.Duration) (Scenario, error) {
	if d <= 0 {
		return Scenario{}, fmt.Errorf("%w: scenario duration must be positive, not %v", bundle.ErrInvalid, d)
	}
	inj.mu.Lock()
	defer inj.mu.Unlock()
	c := inj.cfg.Load()
	probe := *c.b
	probe.Profiles = []bundle.Profile{p}
	if p.MaxRate == 0 {
		probe.Profiles[0].MaxRate = p.Rate
		p.MaxRate = p.Rate
	}
	if p.Severity == "" {
		probe.Profiles[0].Severity = bundle.SeverityMinor
		p.Severity = bundle.SeverityMinor
	}
	if p.Rationale.Summary == "" {
		probe.Profiles[0].Rationale.Summary = "scenario"
		p.Rationale.Summary = "scenario set through the admin API"
	}
	if err := probe.Validate(); err != nil {
		return Scenario{}, err
	}
	for _, a := range c.b.Profiles {
		if a.ID == p.ID {
			return Scenario{}, fmt.Errorf("%w: profile %q: the bundle already has a profile with this id", bundle.ErrInvalid, p.ID)
		}
	}
	now := inj.now()
	a := inj.activate(p, true, now.Add(d), now)
	cur := *inj.scenarios.Load()
	next := make([]*active, 0, len(cur)+1)
	for _, s := range cur {
		if s.p.ID != p.ID && s.expires.After(now) {
			next = append(next, s)
		}
	}
	next = append(next, a)
	slices.SortFunc(next, func(x, y *active) int { return strings.Compare(x.p.ID, y.p.ID) })
	inj.scenarios.Store(&next)
	inj.log.Info("scenario added", "profile", p.ID, "expires", a.expires)
	return Scenario{Profile: p, Expires: a.expires}, nil
}

// RemoveScenario ends a scenario early, reporting whether it existed.
func (inj *Injector) RemoveScenario(id string) bool {
	inj.mu.Lock()
	defer inj.mu.Unlock()
	cur := *inj.scenarios.Load()
	next := slices.DeleteFunc(slices.Clone(cur), func(a *active) bool { return a.p.ID == id })
	inj.scenarios.Store(&next)
	return len(next) != len(cur)
}

// Scenarios lists the scenarios in force now, sorted by profile id.
func (inj *Injector) Scenarios() []Scenario {
	now := inj.now()
	out := []Scenario{}
	for _, a := range *inj.scenarios.Load() {
		if a.expires.After(now) {
			out = append(out, Scenario{Profile: a.p, Expires: a.expires})
		}
	}
	return out
}

// Suppression reasons of the injector itself, as counted in metrics and
// /status; the guards' are guard.Breaker, guard.PerSecond,
// guard.MaxGlobalRate and guard.MaxActiveFaults.
const (
	reasonKill    = "kill"
	reasonExpired = "expired"
)

// decide picks the fault for req, or nil: the first profile (bundle
// profiles by id, then scenarios by id) whose target matches and whose
// decision hash fires, if the guards let it. A fault that is returned
// holds a slot of maxActiveFaults until release. trace is filled with a
// fresh id when the request carries none and a profile matches.
func (inj *Injector) decide(req *Request, now time.Time) *active {
	c := inj.cfg.Load()
	scen := *inj.scenarios.Load()
	if len(c.profiles) == 0 && len(scen) == 0 {
		return nil
	}
	var hit *active
	try := func(a *active) bool {
		if !Matches(&a.p.Target, *req) {
			return false
		}
		a.stats.Matched.Add(1)
		if req.TraceID == "" {
			req.TraceID = hexID(inj.random, 2)
		}
		if !Fires(a.p.ID, a.p.Rate, c.b.Metadata.Seed, req.TraceID) {
			return false
		}
		a.stats.Fired.Add(1)
		hit = a
		return true
	}
	for _, a := range c.profiles {
		if try(a) {
			break
		}
	}
	if hit == nil {
		for _, a := range scen {
			if a.expires.After(now) && try(a) {
				break
			}
		}
	}
	if hit == nil {
		return nil
	}
	if reason := inj.admit(c, hit, now); reason != "" {
		hit.stats.Suppressed.Add(1)
		inj.metrics.suppressed.WithLabelValues(reason).Inc()
		return nil
	}
	hit.stats.Injected.Add(1)
	hit.inject.Inc()
	return hit
}

// admit applies the kill switch, expiry and then the guards (the breaker,
// the perSecond cap, maxGlobalRate, maxActiveFaults) to a fault that fired;
// it returns the reason it is suppressed, or "".
func (inj *Injector) admit(c *config, a *active, now time.Time) string {
	switch {
	case inj.killed.Load():
		return reasonKill
	case !c.b.Metadata.NotAfter.IsZero() && now.After(c.b.Metadata.NotAfter):
		if !inj.expiredSeen.Swap(true) {
			inj.log.Warn("bundle expired: injection stopped until a valid bundle is loaded", "notAfter", c.b.Metadata.NotAfter)
		}
		return reasonExpired
	}
	return inj.guard.Admit(now.UnixNano(), &c.limits, a.bucket)
}

// release frees the maxActiveFaults slot of a fault that ended.
func (inj *Injector) release() { inj.guard.Release() }

// CheckGuards evaluates the abort conditions over the guard window ending
// now and trips the breaker when one holds: injection stops, the log and
// /status say why, until Resume. The proxy calls it every second.
func (inj *Injector) CheckGuards() {
	c := inj.cfg.Load()
	t := inj.guard.Tick(inj.now().UnixNano(), &c.limits)
	if t == nil {
		return
	}
	inj.metrics.guardTrips.WithLabelValues(t.Guard).Inc()
	inj.log.Error("guard tripped: injection stopped until POST /resume", "guard", t.Guard, "reason", t.Reason())
}

// recoverInternal turns a panic in injector code into a counted internal
// error; the caller then passes the request through unchanged.
func (inj *Injector) recoverInternal(where string, p any) {
	inj.internalErrors.Add(1)
	inj.metrics.internalErrors.Inc()
	inj.log.Error("internal error: request passed through unchanged", "in", where, "panic", fmt.Sprint(p))
}
