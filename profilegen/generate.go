package profilegen

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/edge"
	"github.com/chaosgen/chaosgen/internal/usage"
)

// Options control Generate. The zero value plus a Name is valid.
type Options struct {
	Name      string // metadata.name; required
	Generator string // metadata.generator; "chaosgen profilegen/" + RulesVersion when empty
	// MaxRate caps every profile's rate and maxRate, and is the bundle's
	// guards.maxGlobalRate; DefaultMaxRate when 0.
	MaxRate  float64
	MinScore float64 // findings scored below it are left out; in [0, 1]
	// Include and Exclude are edge patterns (see ParseEdgePattern): with
	// Include, only matching edges get profiles; Exclude removes edges.
	Include, Exclude []string
	NotAfter         time.Time // metadata.notAfter; zero: Expiry after the data
	// Expiry, when NotAfter is zero, sets metadata.notAfter to the end of
	// the analysed data + Expiry (DefaultExpiry in the CLI), so that a
	// bundle stops injecting once its nightly job has stopped renewing it;
	// zero: never expires.
	Expiry time.Duration
	Seed   uint64 // metadata.seed
	// Previous is last run's bundle, for the feedback loop; it needs
	// Analysis.Windows. PreviousDigest (its SHA-256) is recorded in
	// metadata.params.
	Previous       *bundle.Bundle
	PreviousDigest string
}

// Result is a generated bundle and how it came about.
type Result struct {
	Bundle *bundle.Bundle
	// Counts of findings: all, left out below MinScore, left out by
	// Include/Exclude, left out because their edge is not in edges.parquet,
	// and folded into a profile of the same kind on the same edge.
	Findings, BelowScore, Filtered, NoEdge, Merged int
	// Decisions are the feedback loop's, by profile id.
	Decisions []Decision
	// GuardChanges are the guards that differ from the previous bundle's:
	// they are derived from each analysis (docs/generate.md, "Guards").
	GuardChanges []bundle.FieldChange
	Warnings     []string
}

// Verdicts of the feedback loop.
const (
	VerdictHandled      = "handled"            // injected, and the callers and the root coped: rate ×1.5
	VerdictHurt         = "hurt"               // the failures reached callers or users: rate ×0.5
	VerdictSevere       = "severe"             // a guard of the previous bundle would have tripped: a milder fault, rate ×0.5
	VerdictUntested     = "untested"           // no injection of the profile's fault type seen: rate kept
	VerdictInconclusive = "inconclusive"       // too few injections or no clean windows to compare with: rate kept
	VerdictNoEvidence   = "no caller evidence" // injected, but no spans of the callers or the roots to judge by: rate kept
	VerdictNew          = "new"                // not in the previous bundle
	VerdictDropped      = "dropped"            // in the previous bundle, but its edge is gone or filtered out
)

// Decision is what the feedback loop did with one profile.
type Decision struct {
	ID                 string
	Verdict            string
	Injected           int64
	OldRate, NewRate   float64
	OldFault, NewFault string // fault types
	Reason             string // why the verdict
	// Change says what moved the rate: the verdict's factor, the cap, the
	// floor, a milder fault, and a change of severity with its cause.
	Change                   string
	OldSeverity, NewSeverity string
}

// candidate is a profile in the making.
type candidate struct {
	kind     string // finding kind, or "corrupt"
	edge     *analysis.EdgeRow
	finding  *analysis.Finding // the best finding; nil for carried profiles
	episodes int
	p        bundle.Profile
	why      string // the first half of the summary: what was found
	feedback string // the feedback clause of the summary, if any
	carried  bool
	decision Decision // the feedback loop's, when it judged this profile
}

func (c *candidate) key() edge.Edge {
	return edge.Edge{Caller: c.p.Target.Caller, Callee: c.p.Target.Callee}
}

// kindOrder orders profiles of one edge.
var kindOrder = map[string]int{
	analysis.KindErrors: 0, analysis.KindLatency: 1, analysis.KindCapacity: 2, analysis.KindAnomaly: 3, bundle.FaultCorrupt: 4,
}

// check reports options out of range, naming them by the flags of
// chaosgen generate, as errors matching usage.Err, and returns the edge
// filter of Include and Exclude.
func (opt *Options) check() (edgeFilter, error) {
	var filter edgeFilter
	if !(opt.MaxRate > 0 && opt.MaxRate <= 1) {
		return filter, usage.Errorf("--max-rate must be in (0, 1], got %v", opt.MaxRate)
	}
	if !(opt.MinScore >= 0 && opt.MinScore <= 1) {
		return filter, usage.Errorf("--min-score must be in [0, 1], got %v", opt.MinScore)
	}
	var err error
	if filter.include, err = parsePatterns(opt.Include); err != nil {
		return filter, usage.Wrap(err)
	}
	if filter.exclude, err = parsePatterns(opt.Exclude); err != nil {
		return filter, usage.Wrap(err)
	}
	return filter, nil
}

// Generate turns an analysis into a bundle. It is deterministic: the same
// analysis (in any finding order) and options give the same bundle.
func Generate(a *Analysis, opt Options) (*Result, error) {
	if opt.Name == "" {
		return nil, usage.Errorf("bundle name is empty")
	}
	if opt.MaxRate == 0 {
		opt.MaxRate = DefaultMaxRate
	}
	filter, err := opt.check()
	if err != nil {
		return nil, err
	}
	if opt.Generator == "" {
		opt.Generator = "chaosgen profilegen/" + RulesVersion
	}

	edges := map[edge.Edge]*analysis.EdgeRow{}
	for i := range a.Edges {
		e := &a.Edges[i]
		edges[edge.Edge{Caller: e.Caller, Callee: e.Callee}] = e
	}
	res := &Result{Findings: len(a.Findings)}

	// Findings, in a canonical order, grouped by (kind, caller, callee).
	fs := slices.Clone(a.Findings)
	slices.SortFunc(fs, compareFindings)
	groups := map[string]*candidate{}
	for i := range fs {
		f := &fs[i]
		k := edge.Edge{Caller: f.Caller, Callee: f.Callee}
		switch {
		case f.Score < opt.MinScore:
			res.BelowScore++
			continue
		case !filter.keep(f.Caller, f.Callee):
			res.Filtered++
			continue
		case edges[k] == nil:
			res.NoEdge++
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s finding on %s: the edge is not in %s, left out", f.Kind, edgeName(f.Caller, f.Callee), analysis.EdgesFile))
			continue
		}
		if _, ok := kindOrder[f.Kind]; !ok || f.Kind == bundle.FaultCorrupt {
			res.Warnings = append(res.Warnings, fmt.Sprintf("finding of unknown kind %q on %s, left out", f.Kind, edgeName(f.Caller, f.Callee)))
			continue
		}
		gk := f.Kind + "\x00" + f.Caller + "\x00" + f.Callee
		if g := groups[gk]; g != nil {
			g.episodes++ // fs is sorted best first within a group
			res.Merged++
			continue
		}
		groups[gk] = &candidate{kind: f.Kind, edge: edges[k], finding: f, episodes: 1}
	}
	var cands []*candidate
	for _, gk := range slices.Sorted(maps.Keys(groups)) {
		c := groups[gk]
		buildFromFinding(c, opt.MaxRate)
		cands = append(cands, c)
	}
	// A corrupt profile for each critical edge with a finding.
	critical := map[edge.Edge]bool{}
	for _, c := range cands {
		if isCritical(c.edge) {
			critical[c.key()] = true
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(critical), edge.Compare) {
		c := &candidate{kind: bundle.FaultCorrupt, edge: edges[k]}
		buildCorrupt(c, opt.MaxRate)
		cands = append(cands, c)
	}
	slices.SortFunc(cands, func(x, y *candidate) int {
		return cmp.Or(edge.Compare(x.key(), y.key()), cmp.Compare(kindOrder[x.kind], kindOrder[y.kind]))
	})
	assignIDs(cands)

	if opt.Previous != nil {
		cands = feedback(a, edges, filter, cands, opt, res)
	}
	b := &bundle.Bundle{
		APIVersion: bundle.APIVersion,
		Kind:       bundle.Kind,
		Metadata:   metadata(a, opt),
		Profiles:   []bundle.Profile{},
	}
	for _, c := range cands {
		c.p.Rationale.Summary = summary(c)
		b.Profiles = append(b.Profiles, c.p)
	}
	var warn string
	b.Guards, warn = guards(a, cands, opt.MaxRate)
	if warn != "" {
		res.Warnings = append(res.Warnings, warn)
	}
	if opt.Previous != nil {
		res.GuardChanges = bundle.Compare(opt.Previous, b).Guards
	}
	slices.SortFunc(b.Profiles, func(x, y bundle.Profile) int { return cmp.Compare(x.ID, y.ID) })
	if _, err := bundle.Encode(b); err != nil {
		return nil, fmt.Errorf("generated an invalid bundle: %w", err)
	}
	res.Bundle = b
	return res, nil
}

// compareFindings orders findings by edge and kind, then best first, down
// to every field, so that the order of the input never matters.
func compareFindings(x, y analysis.Finding) int {
	return cmp.Or(
		cmp.Compare(x.Caller, y.Caller), cmp.Compare(x.Callee, y.Callee), cmp.Compare(x.Kind, y.Kind),
		cmp.Compare(y.Score, x.Score),
		cmp.Compare(x.FromUnixNano, y.FromUnixNano), cmp.Compare(x.ToUnixNano, y.ToUnixNano),
		cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To),
		cmpBool(x.Predicted, y.Predicted),
		cmp.Compare(x.Explanation, y.Explanation),
		cmp.Compare(evidenceString(x.Evidence), evidenceString(y.Evidence)),
	)
}

func cmpBool(x, y bool) int {
	switch {
	case x == y:
		return 0
	case !x:
		return -1
	}
	return 1
}

func evidenceString(m map[string]float64) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k + "=" + strconv.FormatFloat(m[k], 'g', -1, 64) + ";")
	}
	return b.String()
}

func edgeName(caller, callee string) string {
	return edge.Edge{Caller: caller, Callee: callee}.String()
}

// buildFromFinding makes c's profile from its best finding.
func buildFromFinding(c *candidate, maxRate float64) {
	f, e := c.finding, c.edge
	var fault bundle.Fault
	var how string
	switch c.kind {
	case analysis.KindLatency:
		fault = latencyFault(e)
		how = fmt.Sprintf("%s has a p99 of %s ms against a p50 of %s ms", edgeName(e.Caller, e.Callee), num(e.P99Ms), num(e.P50Ms))
	case analysis.KindErrors:
		fault = errorsFault(e)
		how = fmt.Sprintf("%s fails %s%% of its calls", edgeName(e.Caller, e.Callee), pct(e.ErrorRate))
		if fault.Type == bundle.FaultDrop {
			how += ", mostly by timing out"
		} else if codes := parseCodes(e.ErrorCodes); len(codes) > 0 {
			how += fmt.Sprintf(" (most often status %d)", codes[0])
		}
	case analysis.KindCapacity:
		var src string
		fault.Type = bundle.FaultLatency
		fault.Factor, src = capacityFactor(f.Evidence, e)
		how = fmt.Sprintf("%s slows down under load (factor %s from %s, peak %s calls/s)", edgeName(e.Caller, e.Callee), num(fault.Factor), src, num(e.PeakCallsPerS))
	case analysis.KindAnomaly:
		var key string
		fault, key = anomalyFault(f.Evidence, e)
		if key == "" {
			how = fmt.Sprintf("%s behaves unusually and no evidence feature is recognized, so its tail latency is replayed", edgeName(e.Caller, e.Callee))
		} else {
			how = fmt.Sprintf("%s behaves unusually, led by %s = %s", edgeName(e.Caller, e.Callee), strings.TrimPrefix(key, "dominant_"), num(f.Evidence[key]))
		}
	}
	what := f.Kind + " finding"
	if f.Predicted {
		what = "predicted " + what
	}
	c.why = fmt.Sprintf("%s (score %s", what, num(f.Score))
	if c.episodes > 1 {
		c.why += fmt.Sprintf(", %d episodes", c.episodes)
	}
	c.why += "): " + how
	c.p = bundle.Profile{
		Target: bundle.Target{Caller: e.Caller, Callee: e.Callee},
		Fault:  fault,
	}
	setRate(c, initialRate(severityOf(fault, e), e), maxRate)
	r := &c.p.Rationale
	r.Scores = map[string]float64{"finding": f.Score, "criticality": e.Criticality}
	if e.AnomalyScore > 0 {
		r.Scores["anomaly"] = e.AnomalyScore
	}
	r.Features = edgeFeatures(e)
	r.Features["episodes"] = float64(c.episodes)
	for k, v := range f.Evidence {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			r.Features["evidence."+k] = v
		}
	}
}

// buildCorrupt makes the corrupt profile of a critical edge.
func buildCorrupt(c *candidate, maxRate float64) {
	e := c.edge
	c.p = bundle.Profile{
		Target: bundle.Target{Caller: e.Caller, Callee: e.Callee},
		Fault:  corruptFault(),
	}
	c.why = fmt.Sprintf("%s is critical (used by %s%% of requests) and has a finding", edgeName(e.Caller, e.Callee), pct(e.Criticality))
	setRate(c, sig2(CorruptShare*initialRate(bundle.SeverityCritical, e)), maxRate)
	c.p.Rationale.Scores = map[string]float64{"criticality": e.Criticality}
	c.p.Rationale.Features = edgeFeatures(e)
}

// setRate sets the severity, rate, maxRate and perSecond of c's profile
// from its fault and a proposed rate.
func setRate(c *candidate, rate, maxRate float64) {
	p := &c.p
	p.Severity = severityOf(p.Fault, c.edge)
	initial := initialRate(p.Severity, c.edge)
	if p.Fault.Type == bundle.FaultCorrupt {
		initial = sig2(CorruptShare * initialRate(bundle.SeverityCritical, c.edge))
	}
	setRateWithin(c, rate, min(maxRate, sig2(MaxRateMultiple*initial)))
}

// setRateWithin sets the rate, capped by maxRate, which becomes the
// profile's maxRate, and the perSecond cap that goes with it.
func setRateWithin(c *candidate, rate, maxRate float64) {
	p := &c.p
	p.Severity = severityOf(p.Fault, c.edge)
	p.MaxRate = maxRate
	p.Rate = min(rate, p.MaxRate)
	p.MaxRate = max(p.MaxRate, p.Rate)
	p.PerSecond = 0
	if capPS := perSecondCap[p.Severity]; p.MaxRate*c.edge.PeakCallsPerS > capPS {
		p.PerSecond = capPS
	}
}

// edgeFeatures are the edge's numbers that the rules read.
func edgeFeatures(e *analysis.EdgeRow) map[string]float64 {
	return map[string]float64{
		"calls": float64(e.Calls), "errorRate": e.ErrorRate, "timeouts": float64(e.Timeouts),
		"p50Ms": e.P50Ms, "p90Ms": e.P90Ms, "p99Ms": e.P99Ms, "peakCallsPerS": e.PeakCallsPerS,
	}
}

// assignIDs gives each candidate the id <kind>-<caller>-<callee>,
// sanitized, with a numeric suffix for the second and later of equal ids.
func assignIDs(cands []*candidate) {
	used := map[string]bool{}
	for _, c := range cands {
		caller := c.p.Target.Caller
		if caller == "" {
			caller = "ingress"
		}
		base := sanitizeID(c.kind + "-" + caller + "-" + c.p.Target.Callee)
		id := base
		for n := 2; used[id]; n++ {
			suffix := "-" + strconv.Itoa(n)
			id = strings.TrimRight(base[:min(len(base), 63-len(suffix))], "-.") + suffix
		}
		used[id] = true
		c.p.ID = id
	}
}

// sanitizeID lowercases s, turns every run of characters outside a-z 0-9 .
// into one '-', trims '-' and '.' at both ends and cuts it to 63 characters.
func sanitizeID(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	id := strings.Trim(b.String(), "-.")
	if len(id) > 63 {
		id = strings.TrimRight(id[:63], "-.")
	}
	if id == "" {
		id = "profile"
	}
	return id
}

// summary is the profile's sentence: what was found, what the profile
// does, and what the feedback loop decided.
func summary(c *candidate) string {
	s := c.why + "; " + action(c.p) + " tests whether " + whoCopes(c.p)
	if c.feedback != "" {
		s += "; " + c.feedback
	}
	return s
}

// action describes what a profile does: "delaying 2% of its calls by 30 ms".
func action(p bundle.Profile) string {
	share := pct(p.Rate) + "% of its calls"
	f := p.Fault
	switch f.Type {
	case bundle.FaultLatency:
		var parts []string
		if f.DelayMs > 0 {
			d := "delaying " + share + " by " + num(f.DelayMs) + " ms"
			if f.JitterMs > 0 {
				d += " (+ up to " + num(f.JitterMs) + " ms)"
			}
			parts = append(parts, d)
		}
		if f.Factor > 1 {
			if len(parts) > 0 {
				parts = append(parts, "multiplying their latency by "+num(f.Factor))
			} else {
				parts = append(parts, "multiplying the latency of "+share+" by "+num(f.Factor))
			}
		}
		return strings.Join(parts, " and ")
	case bundle.FaultAbort:
		var st []string
		if f.HTTPStatus != 0 {
			st = append(st, "HTTP "+strconv.Itoa(f.HTTPStatus))
		}
		if f.GRPCStatus != 0 {
			st = append(st, "gRPC status "+strconv.Itoa(f.GRPCStatus))
		}
		return "failing " + share + " with " + strings.Join(st, " / ")
	case bundle.FaultDrop:
		return "dropping " + share + " (never answered)"
	case bundle.FaultCorrupt:
		return "corrupting (" + f.Mode + ") the responses of " + share
	}
	return f.Type + " on " + share
}

func whoCopes(p bundle.Profile) string {
	caller := p.Target.Caller
	if caller == "" {
		caller = "the ingress"
	}
	switch p.Fault.Type {
	case bundle.FaultLatency:
		return caller + " tolerates a slow " + p.Target.Callee
	case bundle.FaultCorrupt:
		return caller + " validates what " + p.Target.Callee + " returns"
	case bundle.FaultDrop:
		return caller + " times out and recovers"
	}
	return caller + " retries or falls back"
}

// num formats a number for a sentence: up to 3 significant digits.
func num(x float64) string { return strconv.FormatFloat(x, 'g', 3, 64) }

// pct formats a fraction as a percentage for a sentence.
func pct(x float64) string { return strconv.FormatFloat(100*x, 'g', 3, 64) }

// metadata is the bundle's metadata: the analysis inputs as the source.
func metadata(a *Analysis, opt Options) bundle.Metadata {
	m := bundle.Metadata{
		Name:      opt.Name,
		Generator: opt.Generator,
		NotAfter:  notAfter(a, opt),
		Seed:      opt.Seed,
		Source: bundle.Source{
			Files: []bundle.SourceFile{},
			TimeRange: bundle.TimeRange{
				Start: time.Unix(0, a.Summary.TimeRange.StartUnixNano).UTC(),
				End:   time.Unix(0, a.Summary.TimeRange.EndUnixNano).UTC(),
			},
		},
		Params: map[string]string{
			"maxRate":  strconv.FormatFloat(opt.MaxRate, 'g', -1, 64),
			"minScore": strconv.FormatFloat(opt.MinScore, 'g', -1, 64),
			"rules":    RulesVersion,
		},
	}
	for _, in := range a.Summary.Inputs {
		m.Source.Files = append(m.Source.Files, bundle.SourceFile{Path: in.Path, Rows: in.Rows, SHA256: in.SHA256})
	}
	if len(opt.Include) > 0 {
		m.Params["include"] = strings.Join(opt.Include, ",")
	}
	if len(opt.Exclude) > 0 {
		m.Params["exclude"] = strings.Join(opt.Exclude, ",")
	}
	if opt.Previous != nil && opt.PreviousDigest != "" {
		m.Params["previous"] = "sha256:" + opt.PreviousDigest
	}
	return m
}

// DefaultExpiry is generate's default Options.Expiry: a bundle expires a
// week after the end of the data it was derived from.
const DefaultExpiry = 7 * 24 * time.Hour

// notAfter is opt.NotAfter, or the data's end + opt.Expiry.
func notAfter(a *Analysis, opt Options) time.Time {
	if !opt.NotAfter.IsZero() || opt.Expiry <= 0 || a.Summary.TimeRange.EndUnixNano == 0 {
		return opt.NotAfter
	}
	return time.Unix(0, a.Summary.TimeRange.EndUnixNano).Add(opt.Expiry).UTC().Truncate(time.Second)
}
