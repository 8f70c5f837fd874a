package export

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"sigs.k8s.io/yaml"
)

// The Chaos Mesh objects exported, as their CRDs (chaos-mesh.org/v1alpha1)
// define the fields used. Fields are declared in key order.
type (
	cmObject struct {
		APIVersion string     `json:"apiVersion"`
		Kind       string     `json:"kind"`
		Metadata   cmMetadata `json:"metadata"`
		Spec       any        `json:"spec"` // *httpChaosSpec or *networkChaosSpec
	}
	cmMetadata struct {
		Annotations map[string]string `json:"annotations"`
		Labels      map[string]string `json:"labels"`
		Name        string            `json:"name"`
	}
	cmSelector struct {
		LabelSelectors map[string]string `json:"labelSelectors,omitempty"`
		Namespaces     []string          `json:"namespaces,omitempty"`
	}
	httpChaosSpec struct {
		Abort    bool       `json:"abort,omitempty"`
		Delay    string     `json:"delay,omitempty"`
		Duration string     `json:"duration,omitempty"`
		Method   string     `json:"method,omitempty"`
		Mode     string     `json:"mode"`
		Path     string     `json:"path,omitempty"`
		Port     int        `json:"port"`
		Replace  *cmReplace `json:"replace,omitempty"`
		Selector cmSelector `json:"selector"`
		Target   string     `json:"target"`
		Value    string     `json:"value,omitempty"`
	}
	cmReplace struct {
		Code int `json:"code"`
	}
	networkChaosSpec struct {
		Action    string      `json:"action"`
		Delay     *cmDelay    `json:"delay,omitempty"`
		Direction string      `json:"direction"`
		Duration  string      `json:"duration,omitempty"`
		Mode      string      `json:"mode"`
		Selector  cmSelector  `json:"selector"`
		Target    *cmPodGroup `json:"target,omitempty"`
		Value     string      `json:"value,omitempty"`
	}
	cmDelay struct {
		Correlation string `json:"correlation"`
		Jitter      string `json:"jitter"`
		Latency     string `json:"latency"`
	}
	cmPodGroup struct {
		Mode     string     `json:"mode"`
		Selector cmSelector `json:"selector"`
		Value    string     `json:"value,omitempty"`
	}
)

// chaosMesh exports one Chaos Mesh object per profile (YAML documents
// separated by ---, sorted by id).
//
// HTTP callees get an HTTPChaos on the callee's pods (label app: CALLEE),
// on the port from the callee's name ("host:port") or Options.Port:
//
//	latency  target Request, delay: fixed delay (a factor from the edge's median latency)
//	abort    target Response, replace.code: httpStatus
//	drop     target Request, abort: true (the connection is cut)
//
// Callees that do not speak HTTP (nonHTTP) get a NetworkChaos: a drop is a
// partition, a latency a netem delay (with its jitter), from the caller's
// pods to the callee's (or, without a caller, out of the callee's pods).
//
// Neither has a per-request rate: the rate becomes a share of the pods
// (mode fixed-percent, rounded up to a whole percent, at least 1), which
// matches it only when traffic is spread evenly over the pods. HTTPChaos
// cannot tell callers apart either. duration runs from Options.Now to the
// bundle's notAfter. Every object passes the checks of Chaos Mesh's
// admission webhook (checkChaosMesh) before it is written.
func chaosMesh(b *bundle.Bundle, opt Options, ws *warnings) ([]byte, error) {
	guardWarning(b, "Chaos Mesh", ws)
	duration := ""
	if na := b.Metadata.NotAfter; !na.IsZero() {
		if opt.Now.IsZero() {
			ws.add(nil, Dropped, "duration left out: no export time to count from to notAfter %s", na.UTC().Format(time.RFC3339))
		} else {
			d := na.Sub(opt.Now).Truncate(time.Second)
			if d <= 0 {
				return nil, fmt.Errorf("%w: the bundle expired at %s", bundle.ErrExpired, na.UTC().Format(time.RFC3339))
			}
			duration = d.String()
		}
	}
	var out bytes.Buffer
	n := 0
	for _, p := range sortedProfiles(b) {
		var spec any
		var kind string
		if system := nonHTTP(p.Target.Callee, opt); system != "" {
			s, ok := networkChaos(p, system, ws)
			if !ok {
				continue
			}
			s.Duration = duration
			spec, kind = s, "NetworkChaos"
		} else {
			s, ok := httpChaos(p, opt, ws)
			if !ok {
				continue
			}
			s.Duration = duration
			spec, kind = s, "HTTPChaos"
		}
		obj := cmObject{
			APIVersion: "chaos-mesh.org/v1alpha1",
			Kind:       kind,
			Metadata: cmMetadata{
				Name:        objectName("chaosgen", p.ID),
				Labels:      map[string]string{"app.kubernetes.io/managed-by": "chaosgen"},
				Annotations: map[string]string{"chaosgen.io/bundle": b.Metadata.Name, "chaosgen.io/profile": p.ID},
			},
			Spec: spec,
		}
		if err := checkChaosMesh(&obj); err != nil {
			return nil, fmt.Errorf("profile %q: the %s would not pass Chaos Mesh's admission webhook: %w", p.ID, kind, err)
		}
		y, err := yaml.Marshal(obj)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out.WriteString("---\n")
		}
		out.Write(y)
		n++
	}
	return out.Bytes(), nil
}

// podShare approximates a rate by a share of the pods, with a warning.
func podShare(p *bundle.Profile, kind, whose string, ws *warnings) (mode, value string) {
	pods := max(1, int(math.Ceil(bundle.Round(p.Rate*100))))
	ws.add(p, Approximated, "%s has no per-request rate; rate %s becomes all requests on %d%% of %s's pods", kind, num(p.Rate), pods, whose)
	return "fixed-percent", strconv.Itoa(pods)
}

// podSelector selects a service's pods by the label app: NAME, in the
// namespace NS for a service named "NS/NAME" (service.namespace joined
// by the importer). ok is false, with a warning, for a name that is not a
// Kubernetes label value.
func podSelector(p *bundle.Profile, svc string, ws *warnings) (cmSelector, bool) {
	host, _ := splitCallee(svc)
	sel := cmSelector{LabelSelectors: map[string]string{"app": host}}
	if ns, name, found := strings.Cut(host, "/"); found {
		sel = cmSelector{Namespaces: []string{ns}, LabelSelectors: map[string]string{"app": name}}
	}
	if err := checkSelector(sel); err != nil {
		ws.add(p, LeftOut, "cannot select the pods of %q: %v", svc, err)
		return sel, false
	}
	return sel, true
}

// httpChaos builds the HTTPChaos of a profile on an HTTP callee.
func httpChaos(p *bundle.Profile, opt Options, ws *warnings) (*httpChaosSpec, bool) {
	method, path, ok := operation(p.Target.Operation)
	switch {
	case p.Fault.Type == bundle.FaultCorrupt:
		ws.add(p, LeftOut, "HTTPChaos cannot corrupt a body (%s): it replaces or patches it with fixed content", p.Fault.Mode)
		return nil, false
	case !ok:
		ws.add(p, LeftOut, "operation %q is not an HTTP path or METHOD /path", p.Target.Operation)
		return nil, false
	case p.Fault.Type == bundle.FaultAbort && p.Fault.HTTPStatus == 0:
		ws.add(p, LeftOut, "HTTPChaos cannot set a gRPC status (%d)", p.Fault.GRPCStatus)
		return nil, false
	}
	_, port := splitCallee(p.Target.Callee)
	if port == 0 {
		port = opt.Port
	}
	if port == 0 {
		ws.add(p, LeftOut, "HTTPChaos needs the port %s listens on, which its name does not give: pass --port", p.Target.Callee)
		return nil, false
	}
	sel, ok := podSelector(p, p.Target.Callee, ws)
	if !ok {
		return nil, false
	}
	s := &httpChaosSpec{Port: port, Selector: sel, Path: path, Method: method}
	switch p.Fault.Type {
	case bundle.FaultLatency:
		ms, ok := fixedDelay(p, "Chaos Mesh", ws)
		if !ok {
			return nil, false
		}
		s.Target = "Request"
		s.Delay = time.Duration(math.Round(ms * float64(time.Millisecond))).String()
		if p.Fault.JitterMs > 0 {
			ws.add(p, Dropped, "jitterMs %s left out: HTTPChaos delays are fixed", num(p.Fault.JitterMs))
		}
	case bundle.FaultAbort:
		s.Target = "Response"
		s.Replace = &cmReplace{Code: p.Fault.HTTPStatus}
		if p.Fault.GRPCStatus != 0 {
			ws.add(p, Dropped, "grpcStatus %d left out: HTTPChaos replaces the HTTP status only", p.Fault.GRPCStatus)
		}
	case bundle.FaultDrop:
		s.Target = "Request"
		s.Abort = true
	}
	s.Mode, s.Value = podShare(p, "HTTPChaos", p.Target.Callee, ws)
	if p.Target.Caller != "" {
		ws.add(p, Broadened, "HTTPChaos cannot match the caller %q, so every caller of %s is faulted", p.Target.Caller, p.Target.Callee)
	}
	if p.PerSecond > 0 {
		ws.add(p, Dropped, "perSecond %s left out: HTTPChaos has no rate cap", num(p.PerSecond))
	}
	return s, true
}

// networkChaos builds the NetworkChaos of a profile on a callee that does
// not speak HTTP: a partition for a drop, a netem delay for a latency.
func networkChaos(p *bundle.Profile, system string, ws *warnings) (*networkChaosSpec, bool) {
	s := &networkChaosSpec{Direction: "to"}
	switch p.Fault.Type {
	case bundle.FaultDrop:
		s.Action = "partition"
	case bundle.FaultLatency:
		ms, ok := fixedDelay(p, "Chaos Mesh", ws)
		if !ok {
			return nil, false
		}
		s.Action = "delay"
		s.Delay = &cmDelay{Latency: millis(ms), Jitter: millis(p.Fault.JitterMs), Correlation: "0"}
		ws.add(p, Approximated, "NetworkChaos delays every packet to %s (a %s callee) by %sms: a request of one packet each way is delayed as the profile says, a larger one more", p.Target.Callee, system, num(ms))
	case bundle.FaultAbort:
		ws.add(p, LeftOut, "%s speaks %s: an abort is an HTTP or gRPC status, which NetworkChaos cannot return", p.Target.Callee, system)
		return nil, false
	default:
		ws.add(p, LeftOut, "%s speaks %s: NetworkChaos corrupts packets, which TCP then drops (loss, not a corrupt response)", p.Target.Callee, system)
		return nil, false
	}
	callee, ok := podSelector(p, calleeService(p.Target.Callee), ws)
	if !ok {
		return nil, false
	}
	if p.Target.Operation != "" {
		ws.add(p, Broadened, "NetworkChaos cannot match the operation %q: every call to %s is affected", p.Target.Operation, p.Target.Callee)
	}
	if p.Target.Caller == "" {
		s.Selector = callee
		s.Mode, s.Value = podShare(p, "NetworkChaos", p.Target.Callee, ws)
	} else {
		caller, ok := podSelector(p, p.Target.Caller, ws)
		if !ok {
			return nil, false
		}
		s.Selector = caller
		s.Mode, s.Value = podShare(p, "NetworkChaos", p.Target.Caller, ws)
		s.Target = &cmPodGroup{Mode: "all", Selector: callee}
	}
	if p.PerSecond > 0 {
		ws.add(p, Dropped, "perSecond %s left out: NetworkChaos has no rate cap", num(p.PerSecond))
	}
	return s, true
}

// calleeService is the service whose pods serve a non-HTTP callee: the
// system of "system/namespace" (postgresql/orders: app postgresql), the
// host of "host:port", else the name.
func calleeService(callee string) string {
	host, _ := splitCallee(callee)
	if system, _, found := strings.Cut(host, "/"); found && slices.Contains(nonHTTPSystems, system) {
		return system
	}
	return host
}

// millis formats milliseconds as a Go duration string ("250ms", "1.5s").
func millis(ms float64) string {
	return time.Duration(math.Round(ms * float64(time.Millisecond))).String()
}

// checkChaosMesh applies the rules of Chaos Mesh's admission webhook
// (api/v1alpha1: the genericwebhook field validators and ValidatePodMode)
// that its CRD schema does not: without them the schema accepts an object
// the webhook refuses, port 0 above all.
func checkChaosMesh(o *cmObject) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("spec.%s: %s", field, fmt.Sprintf(format, args...)))
	}
	duration := func(field, v string, required bool) {
		if v == "" && !required {
			return
		}
		if _, err := time.ParseDuration(v); err != nil {
			bad(field, "%v", err)
		}
	}
	switch s := o.Spec.(type) {
	case *httpChaosSpec:
		if s.Port <= 0 || s.Port > 65535 {
			bad("port", "port %d is not supported", s.Port)
		}
		if s.Target != "Request" && s.Target != "Response" {
			bad("target", "target %q is not supported", s.Target)
		}
		if s.Method != "" && s.Target == "Request" && !slices.Contains(httpMethods, s.Method) {
			bad("method", "method %s is not supported", s.Method)
		}
		if s.Replace != nil && (s.Replace.Code < 100 || s.Replace.Code > 599) {
			bad("replace.code", "%d is not an HTTP status", s.Replace.Code)
		}
		if s.Path != "" && !strings.HasPrefix(s.Path, "/") {
			bad("path", "%q does not start with /", s.Path)
		}
		if s.Delay == "" && !s.Abort && s.Replace == nil {
			bad("target", "no action: delay, abort or replace")
		}
		duration("delay", s.Delay, false)
		duration("duration", s.Duration, false)
		podMode(bad, "", s.Mode, s.Value)
		selector(bad, "selector", s.Selector)
	case *networkChaosSpec:
		switch s.Action {
		case "partition":
		case "delay":
			if s.Delay == nil {
				bad("delay", "required by action delay")
				break
			}
			duration("delay.latency", s.Delay.Latency, true)
			duration("delay.jitter", s.Delay.Jitter, true)
			if _, err := strconv.ParseFloat(s.Delay.Correlation, 32); err != nil {
				bad("delay.correlation", "%v", err)
			}
		default:
			bad("action", "%q is not exported", s.Action)
		}
		if !slices.Contains([]string{"to", "from", "both"}, s.Direction) {
			bad("direction", "%q is not to, from or both", s.Direction)
		}
		if s.Target == nil && s.Direction != "to" {
			bad("direction", "from and both need a target")
		}
		duration("duration", s.Duration, false)
		podMode(bad, "", s.Mode, s.Value)
		selector(bad, "selector", s.Selector)
		if s.Target != nil {
			podMode(bad, "target.", s.Target.Mode, s.Target.Value)
			selector(bad, "target.selector", s.Target.Selector)
		}
	default:
		return fmt.Errorf("unknown spec %T", o.Spec)
	}
	if !validName().MatchString(o.Metadata.Name) {
		errs = append(errs, fmt.Errorf("metadata.name: %q is not a DNS label", o.Metadata.Name))
	}
	return errors.Join(errs...)
}

var httpMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
	http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodConnect}

// podMode is Chaos Mesh's ValidatePodMode: fixed needs a count > 0, the
// percent modes a whole percentage in (0, 100].
func podMode(bad func(field, format string, args ...any), prefix, mode, value string) {
	switch mode {
	case "one", "all":
	case "fixed":
		if n, err := strconv.Atoi(value); err != nil || n <= 0 {
			bad(prefix+"value", "%q: value must be greater than 0 with mode fixed", value)
		}
	case "fixed-percent", "random-max-percent":
		if n, err := strconv.Atoi(value); err != nil || n <= 0 || n > 100 {
			bad(prefix+"value", "%q: must be a whole percentage in (0, 100] with mode %s", value, mode)
		}
	default:
		bad(prefix+"mode", "%q is not a pod mode", mode)
	}
}

// selector requires a selector that selects by something: an empty one
// would select every pod in the namespace.
func selector(bad func(field, format string, args ...any), field string, s cmSelector) {
	if err := checkSelector(s); err != nil {
		bad(field, "%v", err)
	}
}

func checkSelector(s cmSelector) error {
	if len(s.LabelSelectors) == 0 {
		return errors.New("no labelSelectors: it would select every pod of the namespace")
	}
	for k, v := range s.LabelSelectors {
		if !labelValue().MatchString(k) || !labelValue().MatchString(v) || v == "" {
			return fmt.Errorf("label %s=%s is not a Kubernetes label (at most 63 of A-Z a-z 0-9 - _ ., starting and ending with a letter or digit)", k, v)
		}
	}
	for _, ns := range s.Namespaces {
		if !validName().MatchString(ns) {
			return fmt.Errorf("namespace %q is not a DNS label", ns)
		}
	}
	return nil
}

// The patterns are compiled on first use: their counted repeats make
// programs of a few hundred instructions, which every chaosgen process
// would otherwise compile at start, whatever its command.
var (
	labelValue = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	})
	validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`) })
)
