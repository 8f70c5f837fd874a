package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/chaosgen/chaosgen/ingest"

	"sigs.k8s.io/yaml"
)

// Mesh is the simulated service mesh's policy, read from mesh.yaml. Every
// block is optional; an edge entry's block replaces the same block of its
// callee's service entry, which replaces the block in Defaults. See
// docs/replay.md for the semantics of each field.
type Mesh struct {
	Defaults Policy            `json:"defaults"`
	Services map[string]Policy `json:"services"`
	Edges    []EdgePolicy      `json:"edges"`
	// IstioFaultDisablesRetries turns off the retries and the timeout of
	// every route a bundle profile targets, as Istio does when a
	// VirtualService route has a fault.
	IstioFaultDisablesRetries bool `json:"istioFaultDisablesRetries"`
	// DropResetAfter is how long a caller without any timeout waits for a
	// request that is never answered before the connection is reset
	// (Envoy's stream idle timeout); 5m when zero.
	DropResetAfter Duration `json:"dropResetAfter"`
}

// EdgePolicy is the policy of one caller→callee edge. An empty Caller is the
// ingress.
type EdgePolicy struct {
	Caller string `json:"caller"`
	Callee string `json:"callee"`
	Policy
}

// Policy is the set of mesh behaviours on calls to a service (or on one
// edge). A nil block is not configured at that level.
type Policy struct {
	// Timeout is the route timeout of a whole call, retries included;
	// 0 means none. Left out at every level: the recording's timeouts
	// are replayed (a call recorded as timed out ends as a timeout after
	// its recorded duration).
	Timeout *Duration `json:"timeout,omitempty"`
	// Retries, left out at every level: the recording's retries are
	// replayed with their recorded backoff.
	Retries        *Retries        `json:"retries,omitempty"`
	CircuitBreaker *CircuitBreaker `json:"circuitBreaker,omitempty"`
	Fallback       *Fallback       `json:"fallback,omitempty"`
	Capacity       *Capacity       `json:"capacity,omitempty"`
	// ValidateResponses says whether the caller checks response bodies, so
	// that a corrupt fault fails the call; default true.
	ValidateResponses *bool `json:"validateResponses,omitempty"`
}

// Retries is an Envoy retry policy with a retry budget.
type Retries struct {
	Attempts      int      `json:"attempts"`      // retries after the first try
	PerTryTimeout Duration `json:"perTryTimeout"` // 0: none
	Backoff       Backoff  `json:"backoff"`
	// RetryOn lists the outcomes retried: 5xx, gateway-error, reset,
	// connect-failure. Default: [5xx, reset, connect-failure].
	RetryOn []string `json:"retryOn,omitempty"`
	Budget  *Budget  `json:"budget,omitempty"` // nil: no budget
}

// Backoff is exponential backoff: try n waits min(Max, Base·2^(n-1)) scaled
// by (1 - Jitter + Jitter·U), U uniform in [0, 1).
type Backoff struct {
	Base   Duration `json:"base"`   // 25ms when zero
	Max    Duration `json:"max"`    // 10 × Base when zero
	Jitter *float64 `json:"jitter"` // in [0, 1]; 1 (Envoy's full jitter) when absent
}

// Budget is Envoy's retry budget: concurrent retries on the edge are capped
// at max(MinConcurrency, Percent/100 × active calls on the edge).
type Budget struct {
	Percent        float64 `json:"percent"`
	MinConcurrency int     `json:"minConcurrency"`
}

// CircuitBreaker is Envoy outlier detection on the edge, with half-open
// probes.
type CircuitBreaker struct {
	ConsecutiveErrors int      `json:"consecutiveErrors"` // 0: not used
	ErrorRatio        float64  `json:"errorRatio"`        // in (0, 1]; 0: not used
	Window            Duration `json:"window"`            // error ratio window; 10s when zero
	MinRequests       int      `json:"minRequests"`       // calls in the window before the ratio counts; 5 when zero
	OpenTime          Duration `json:"openTime"`          // base ejection time; 30s when zero
	MaxOpenTime       Duration `json:"maxOpenTime"`       // cap on openTime × ejections; 300s when zero
	HalfOpenProbes    int      `json:"halfOpenProbes"`    // trial calls after ejection; 1 when zero
}

// Fallback is what the caller does when a call fails for good.
type Fallback struct {
	Latency Duration `json:"latency"`
	Success bool     `json:"success"` // the fallback answer counts as a success
}

// Capacity bounds a service's concurrent requests; more wait in a FIFO queue
// of QueueLength, and beyond that get 503 (overflow).
type Capacity struct {
	Concurrency int `json:"concurrency"`
	QueueLength int `json:"queueLength"`
}

// Duration is a time.Duration written as "250ms" in YAML.
type Duration time.Duration

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration must be a string like \"250ms\", got %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("duration %s is negative", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Retry-on outcome names.
const (
	RetryOn5xx            = "5xx"
	RetryOnGatewayError   = "gateway-error"
	RetryOnReset          = "reset"
	RetryOnConnectFailure = "connect-failure"
)

// ErrMesh is wrapped by every mesh file error.
var ErrMesh = errors.New("invalid mesh")

// ReadMesh reads and checks a mesh file.
func ReadMesh(path string) (*Mesh, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := ParseMesh(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// ParseMesh parses mesh YAML strictly: unknown fields and duplicate keys are
// errors naming the field.
func ParseMesh(data []byte) (*Mesh, error) {
	m := &Mesh{}
	if len(bytes.TrimSpace(data)) == 0 {
		return m, nil
	}
	if err := yaml.UnmarshalStrict(data, m); err != nil {
		if perr := meshPathError(data); perr != nil {
			return nil, fmt.Errorf("%w: %v", ErrMesh, perr)
		}
		return nil, fmt.Errorf("%w: %v", ErrMesh, cleanYAMLErr(err))
	}
	if err := m.check(); err != nil {
		return nil, err
	}
	return m, nil
}

// meshPathError finds the first field of mesh YAML that does not fit the
// Mesh type and says where it is ("services.cart.retries: unknown field
// \"atempts\" (want attempts, ...)"); nil when it finds none (the
// YAML itself is malformed: the decoder's error says where).
func meshPathError(data []byte) error {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		return nil
	}
	return fitType(v, reflect.TypeFor[Mesh](), "")
}

var durationType = reflect.TypeFor[Duration]()

// fitType checks a decoded JSON value v against type t, naming the path of
// the first value that does not fit.
func fitType(v any, t reflect.Type, path string) error {
	at := func(p string) string {
		if p == "" {
			return "the top level"
		}
		return p
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		var d Duration
		b, _ := json.Marshal(v)
		if err := d.UnmarshalJSON(b); err != nil {
			return fmt.Errorf("%s: %v (write durations like 250ms, 2s or 1m30s)", at(path), err)
		}
		return nil
	case t.Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want a mapping, got %s", at(path), jsonKind(v))
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(m) {
			ft, ok := fields[k]
			if !ok {
				return fmt.Errorf("%s: unknown field %q (want one of %s)", at(path), k, strings.Join(sortedKeys(fields), ", "))
			}
			if err := fitType(m[k], ft, join(path, k)); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want a mapping, got %s", at(path), jsonKind(v))
		}
		for _, k := range sortedKeys(m) {
			if err := fitType(m[k], t.Elem(), join(path, k)); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() == reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want a list, got %s", at(path), jsonKind(v))
		}
		for i, e := range l {
			if err := fitType(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		return nil
	}
	b, _ := json.Marshal(v)
	if err := json.Unmarshal(b, reflect.New(t).Interface()); err != nil {
		return fmt.Errorf("%s: want %s, got %s", at(path), t.Kind(), jsonKind(v))
	}
	return nil
}

// jsonFields maps the JSON names of a struct's fields (embedded structs'
// included) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = f.Type
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("%q", v)
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

func cleanYAMLErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "error unmarshaling JSON: ")
	s = strings.TrimPrefix(s, "while decoding JSON: ")
	return s
}

func (m *Mesh) check() error {
	var errs []string
	bad := func(where, format string, args ...any) {
		errs = append(errs, where+": "+fmt.Sprintf(format, args...))
	}
	checkPolicy := func(where string, p *Policy, svc bool) {
		if r := p.Retries; r != nil {
			if r.Attempts < 0 || r.Attempts > 100 {
				bad(where, "retries.attempts: %d is outside [0, 100]", r.Attempts)
			}
			for _, on := range r.RetryOn {
				if !slices.Contains([]string{RetryOn5xx, RetryOnGatewayError, RetryOnReset, RetryOnConnectFailure}, on) {
					bad(where, "retries.retryOn: unknown outcome %q (want 5xx, gateway-error, reset or connect-failure)", on)
				}
			}
			if j := r.Backoff.Jitter; j != nil && (*j < 0 || *j > 1 || math.IsNaN(*j)) {
				bad(where, "retries.backoff.jitter: %g is outside [0, 1]", *j)
			}
			if b := r.Budget; b != nil && (b.Percent < 0 || b.Percent > 100 || math.IsNaN(b.Percent) || b.MinConcurrency < 0) {
				bad(where, "retries.budget: percent must be in [0, 100] and minConcurrency >= 0")
			}
		}
		if c := p.CircuitBreaker; c != nil {
			if c.ConsecutiveErrors < 0 || c.MinRequests < 0 || c.HalfOpenProbes < 0 {
				bad(where, "circuitBreaker: counts must be >= 0")
			}
			if c.ErrorRatio < 0 || c.ErrorRatio > 1 || math.IsNaN(c.ErrorRatio) {
				bad(where, "circuitBreaker.errorRatio: %g is outside [0, 1]", c.ErrorRatio)
			}
		}
		if c := p.Capacity; c != nil {
			if !svc {
				bad(where, "capacity: belongs to a service (defaults or services), not an edge")
			}
			if c.Concurrency < 1 || c.QueueLength < 0 {
				bad(where, "capacity: concurrency must be >= 1 and queueLength >= 0")
			}
		}
	}
	checkPolicy("defaults", &m.Defaults, true)
	for _, name := range sortedKeys(m.Services) {
		p := m.Services[name]
		checkPolicy(fmt.Sprintf("services.%s", name), &p, true)
	}
	seen := map[[2]string]bool{}
	for i := range m.Edges {
		e := &m.Edges[i]
		where := fmt.Sprintf("edges[%d]", i)
		if e.Callee == "" {
			bad(where, "callee: must not be empty")
		}
		k := [2]string{e.Caller, e.Callee}
		if seen[k] {
			bad(where, "duplicate edge %s→%s", e.Caller, e.Callee)
		}
		seen[k] = true
		checkPolicy(where, &e.Policy, false)
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrMesh, strings.Join(errs, "; "))
	}
	return nil
}

// CheckServices refuses a mesh that names services the span files never
// mention (as caller or callee): a misspelt name would otherwise configure
// nothing, silently. It reads only the caller and callee columns.
func (m *Mesh) CheckServices(ctx context.Context, files []string) error {
	var names []string
	where := map[string]string{}
	add := func(name, at string) {
		if _, ok := where[name]; !ok && name != "" {
			where[name] = at
			names = append(names, name)
		}
	}
	for _, name := range sortedKeys(m.Services) {
		add(name, "services."+name)
	}
	for i, e := range m.Edges {
		add(e.Caller, fmt.Sprintf("edges[%d].caller", i))
		add(e.Callee, fmt.Sprintf("edges[%d].callee", i))
	}
	if len(names) == 0 {
		return nil
	}
	of, err := ingest.Open(files)
	if err != nil {
		return err
	}
	defer of.Close()
	var mu sync.Mutex
	seen := map[string]bool{}
	_, err = of.Scan(ctx, ingest.ScanOptions{Columns: []ingest.Column{ingest.ColCaller, ingest.ColCallee}}, func(_ int, b *ingest.Batch) error {
		local := map[string]bool{}
		for _, c := range []ingest.Column{ingest.ColCaller, ingest.ColCallee} {
			col := &b.Str[c]
			for i := range b.N {
				if n := col.Value(i); where[string(n)] != "" {
					local[string(n)] = true
				}
			}
		}
		mu.Lock()
		for n := range local {
			seen[n] = true
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	var errs []string
	for _, n := range names {
		if !seen[n] {
			errs = append(errs, fmt.Sprintf("%s: no service %q in the spans", where[n], n))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrMesh, strings.Join(errs, "; "))
	}
	return nil
}

// route is the resolved policy of calls on one edge.
type route struct {
	timeoutSet bool  // a timeout is configured (else recorded timeouts are replayed)
	timeout    int64 // ns; 0 none
	retries    *Retries
	retryOn    uint8
	breaker    *CircuitBreaker
	fallback   *Fallback
	validate   bool
}

// Outcome classes for retry-on and the breaker.
const (
	on5xx uint8 = 1 << iota
	onGateway
	onReset
	onConnect
)

// resolve returns the policy of the edge caller→callee.
func (m *Mesh) resolve(caller, callee string) route {
	p := m.Defaults
	if s, ok := m.Services[callee]; ok {
		p = overlay(p, s)
	}
	for i := range m.Edges {
		if e := &m.Edges[i]; e.Caller == caller && e.Callee == callee {
			p = overlay(p, e.Policy)
		}
	}
	r := route{retries: p.Retries, breaker: p.CircuitBreaker, fallback: p.Fallback, validate: true}
	if p.Timeout != nil {
		r.timeoutSet, r.timeout = true, int64(*p.Timeout)
	}
	if p.ValidateResponses != nil {
		r.validate = *p.ValidateResponses
	}
	if p.Retries != nil {
		on := p.Retries.RetryOn
		if len(on) == 0 {
			on = []string{RetryOn5xx, RetryOnReset, RetryOnConnectFailure}
		}
		for _, o := range on {
			switch o {
			case RetryOn5xx:
				r.retryOn |= on5xx
			case RetryOnGatewayError:
				r.retryOn |= onGateway
			case RetryOnReset:
				r.retryOn |= onReset
			case RetryOnConnectFailure:
				r.retryOn |= onConnect
			}
		}
	}
	if b := r.breaker; b != nil && b.ConsecutiveErrors == 0 && b.ErrorRatio == 0 {
		r.breaker = nil
	}
	return r
}

// capacity returns the capacity of a service, nil when unlimited.
func (m *Mesh) capacity(service string) *Capacity {
	c := m.Defaults.Capacity
	if s, ok := m.Services[service]; ok && s.Capacity != nil {
		c = s.Capacity
	}
	return c
}

func overlay(base, over Policy) Policy {
	if over.Timeout != nil {
		base.Timeout = over.Timeout
	}
	if over.Retries != nil {
		base.Retries = over.Retries
	}
	if over.CircuitBreaker != nil {
		base.CircuitBreaker = over.CircuitBreaker
	}
	if over.Fallback != nil {
		base.Fallback = over.Fallback
	}
	if over.Capacity != nil {
		base.Capacity = over.Capacity
	}
	if over.ValidateResponses != nil {
		base.ValidateResponses = over.ValidateResponses
	}
	return base
}

func (m *Mesh) dropReset() int64 {
	if m.DropResetAfter > 0 {
		return int64(m.DropResetAfter)
	}
	return int64(5 * time.Minute)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
