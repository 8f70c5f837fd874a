package bundle

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Diff is what changed between two bundles, for a reviewer.
type Diff struct {
	OldName string `json:"oldName"`
	NewName string `json:"newName"`
	// Metadata and Guards list the changed fields outside the profiles.
	Metadata []FieldChange `json:"metadata"`
	Guards   []FieldChange `json:"guards"`
	// Added and Removed are whole profiles; Changed lists, per profile id,
	// the fields that differ. All three are sorted by id.
	Added     []Profile       `json:"added"`
	Removed   []Profile       `json:"removed"`
	Changed   []ProfileChange `json:"changed"`
	Unchanged int             `json:"unchanged"`
}

// FieldChange is one field that differs, written as in the JSON form.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// ProfileChange lists the changes of one profile. Fields are the ones that
// make a difference to an injector (target, fault, rate, maxRate,
// perSecond, severity); Rationale the changed rationale entries.
type ProfileChange struct {
	ID        string        `json:"id"`
	Fields    []FieldChange `json:"fields"`
	Rationale []FieldChange `json:"rationale"`
	RateDelta float64       `json:"rateDelta"` // new rate − old rate
	OldRate   float64       `json:"oldRate"`
	NewRate   float64       `json:"newRate"`
	Summary   string        `json:"summary"` // the new rationale summary
}

// RationaleOnly reports whether only the rationale changed.
func (c *ProfileChange) RationaleOnly() bool { return len(c.Fields) == 0 }

// Compare returns what changed from old to new. Both should be valid
// (decoded with Decode); numbers are compared after canonical rounding.
func Compare(old, new *Bundle) *Diff {
	d := &Diff{OldName: old.Metadata.Name, NewName: new.Metadata.Name,
		Metadata: []FieldChange{}, Guards: []FieldChange{},
		Added: []Profile{}, Removed: []Profile{}, Changed: []ProfileChange{}}
	add := func(list *[]FieldChange, field, o, n string) {
		if o != n {
			*list = append(*list, FieldChange{field, o, n})
		}
	}
	om, nm := &old.Metadata, &new.Metadata
	add(&d.Metadata, "name", om.Name, nm.Name)
	add(&d.Metadata, "generator", om.Generator, nm.Generator)
	add(&d.Metadata, "seed", strconv.FormatUint(om.Seed, 10), strconv.FormatUint(nm.Seed, 10))
	add(&d.Metadata, "notAfter", timeString(om.NotAfter), timeString(nm.NotAfter))
	for _, k := range unionKeys(om.Params, nm.Params) {
		add(&d.Metadata, "params."+k, om.Params[k], nm.Params[k])
	}
	of, nf := map[string]string{}, map[string]string{}
	for _, f := range om.Source.Files {
		of[f.Path] = fmt.Sprintf("sha256:%s rows:%d", f.SHA256, f.Rows)
	}
	for _, f := range nm.Source.Files {
		nf[f.Path] = fmt.Sprintf("sha256:%s rows:%d", f.SHA256, f.Rows)
	}
	for _, k := range unionKeys(of, nf) {
		add(&d.Metadata, "source.files["+k+"]", of[k], nf[k])
	}
	add(&d.Metadata, "source.timeRange.start", timeString(om.Source.TimeRange.Start), timeString(nm.Source.TimeRange.Start))
	add(&d.Metadata, "source.timeRange.end", timeString(om.Source.TimeRange.End), timeString(nm.Source.TimeRange.End))

	og, ng := &old.Guards, &new.Guards
	add(&d.Guards, "maxGlobalRate", numString(og.MaxGlobalRate), numString(ng.MaxGlobalRate))
	add(&d.Guards, "maxActiveFaults", strconv.Itoa(og.MaxActiveFaults), strconv.Itoa(ng.MaxActiveFaults))
	add(&d.Guards, "abortIf.rootErrorRate", numString(og.AbortIf.RootErrorRate), numString(ng.AbortIf.RootErrorRate))
	add(&d.Guards, "abortIf.rootP99Ms", numString(og.AbortIf.RootP99Ms), numString(ng.AbortIf.RootP99Ms))
	oi, ni := map[string]string{}, map[string]string{}
	for _, ig := range og.Injectors {
		oi[ig.Service] = injectorString(ig)
	}
	for _, ig := range ng.Injectors {
		ni[ig.Service] = injectorString(ig)
	}
	for _, k := range unionKeys(oi, ni) {
		add(&d.Guards, "injectors["+k+"]", oi[k], ni[k])
	}

	op, np := map[string]*Profile{}, map[string]*Profile{}
	for i := range old.Profiles {
		op[old.Profiles[i].ID] = &old.Profiles[i]
	}
	for i := range new.Profiles {
		np[new.Profiles[i].ID] = &new.Profiles[i]
	}
	for _, id := range unionKeys(op, np) {
		o, n := op[id], np[id]
		switch {
		case o == nil:
			d.Added = append(d.Added, *n)
		case n == nil:
			d.Removed = append(d.Removed, *o)
		default:
			c := ProfileChange{ID: id, Fields: []FieldChange{}, Rationale: []FieldChange{},
				OldRate: Round(o.Rate), NewRate: Round(n.Rate), RateDelta: Round(Round(n.Rate) - Round(o.Rate)), Summary: n.Rationale.Summary}
			add(&c.Fields, "target", TargetString(o.Target), TargetString(n.Target))
			add(&c.Fields, "fault", FaultString(o.Fault), FaultString(n.Fault))
			add(&c.Fields, "rate", numString(o.Rate), numString(n.Rate))
			add(&c.Fields, "maxRate", numString(o.MaxRate), numString(n.MaxRate))
			add(&c.Fields, "perSecond", numString(o.PerSecond), numString(n.PerSecond))
			add(&c.Fields, "severity", o.Severity, n.Severity)
			add(&c.Rationale, "summary", o.Rationale.Summary, n.Rationale.Summary)
			for _, k := range unionKeys(o.Rationale.Scores, n.Rationale.Scores) {
				add(&c.Rationale, "scores."+k, optNum(o.Rationale.Scores, k), optNum(n.Rationale.Scores, k))
			}
			for _, k := range unionKeys(o.Rationale.Features, n.Rationale.Features) {
				add(&c.Rationale, "features."+k, optNum(o.Rationale.Features, k), optNum(n.Rationale.Features, k))
			}
			if len(c.Fields) == 0 && len(c.Rationale) == 0 {
				d.Unchanged++
				continue
			}
			d.Changed = append(d.Changed, c)
		}
	}
	return d
}

// Empty reports whether the bundles are the same.
func (d *Diff) Empty() bool {
	return len(d.Metadata)+len(d.Guards)+len(d.Added)+len(d.Removed)+len(d.Changed) == 0
}

// WriteText writes d for people: a count line, metadata and guard changes,
// then the profiles added, removed and changed, with rate deltas and the
// new rationale.
func (d *Diff) WriteText(w io.Writer) error {
	var b strings.Builder
	name := strconv.Quote(d.NewName)
	if d.OldName != d.NewName {
		name = strconv.Quote(d.OldName) + " → " + strconv.Quote(d.NewName)
	}
	ronly := 0
	for i := range d.Changed {
		if d.Changed[i].RationaleOnly() {
			ronly++
		}
	}
	fmt.Fprintf(&b, "bundle %s: %d added, %d removed, %d changed", name, len(d.Added), len(d.Removed), len(d.Changed))
	if ronly > 0 {
		fmt.Fprintf(&b, " (%d in rationale only)", ronly)
	}
	fmt.Fprintf(&b, ", %d unchanged\n", d.Unchanged)
	section := func(title string, list []FieldChange) {
		if len(list) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s:\n", title)
		for _, c := range list {
			fmt.Fprintf(&b, "  %s: %s → %s\n", c.Field, orNone(c.Old), orNone(c.New))
		}
	}
	section("metadata", d.Metadata)
	section("guards", d.Guards)
	profiles := func(title, mark string, list []Profile) {
		if len(list) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s:\n", title)
		for _, p := range list {
			fmt.Fprintf(&b, "  %s %s  %s  %s  rate %s (max %s)", mark, p.ID, TargetString(p.Target), FaultString(p.Fault), percent(p.Rate), percent(p.MaxRate))
			if p.PerSecond > 0 {
				fmt.Fprintf(&b, " ≤ %s/s", numString(p.PerSecond))
			}
			fmt.Fprintf(&b, "  %s\n      %s\n", p.Severity, p.Rationale.Summary)
		}
	}
	profiles("added", "+", d.Added)
	profiles("removed", "-", d.Removed)
	if len(d.Changed) > 0 {
		b.WriteString("\nchanged:\n")
	}
	for _, c := range d.Changed {
		fmt.Fprintf(&b, "  ~ %s\n", c.ID)
		for _, f := range c.Fields {
			if f.Field == "rate" {
				fmt.Fprintf(&b, "      rate: %s → %s (%s)\n", percent(c.OldRate), percent(c.NewRate), rateDelta(c.OldRate, c.NewRate))
				continue
			}
			fmt.Fprintf(&b, "      %s: %s → %s\n", f.Field, orNone(f.Old), orNone(f.New))
		}
		var nums []string
		for _, r := range c.Rationale {
			if r.Field != "summary" {
				nums = append(nums, strings.TrimPrefix(strings.TrimPrefix(r.Field, "scores."), "features."))
			}
		}
		if len(nums) > 0 {
			fmt.Fprintf(&b, "      rationale numbers changed: %s\n", strings.Join(nums, ", "))
		}
		fmt.Fprintf(&b, "      why: %s\n", c.Summary)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// TargetString writes a target as "caller->callee operation", "*" for an
// empty caller.
func TargetString(t Target) string {
	caller := t.Caller
	if caller == "" {
		caller = "*"
	}
	s := caller + "->" + t.Callee
	if t.Operation != "" {
		s += " " + t.Operation
	}
	return s
}

// FaultString writes a fault as its type and non-zero fields in key
// order: "latency delayMs=30 jitterMs=5".
func FaultString(f Fault) string {
	parts := []string{f.Type}
	for _, kv := range []struct {
		k string
		v float64
	}{{"delayMs", f.DelayMs}, {"factor", f.Factor}, {"grpcStatus", float64(f.GRPCStatus)}, {"httpStatus", float64(f.HTTPStatus)}, {"jitterMs", f.JitterMs}} {
		if Round(kv.v) != 0 {
			parts = append(parts, kv.k+"="+numString(kv.v))
		}
	}
	if f.Mode != "" {
		parts = append(parts, "mode="+f.Mode)
	}
	return strings.Join(parts, " ")
}

func numString(x float64) string { return strconv.FormatFloat(Round(x), 'f', -1, 64) }

func optNum(m map[string]float64, k string) string {
	if v, ok := m[k]; ok {
		return numString(v)
	}
	return ""
}

func percent(x float64) string { return strconv.FormatFloat(Round(100*Round(x)), 'f', -1, 64) + "%" }

// rateDelta writes the change of a rate: "+1 pt, ×1.5".
func rateDelta(o, n float64) string {
	d := strconv.FormatFloat(Round(100*(n-o)), 'f', -1, 64)
	if n >= o {
		d = "+" + d
	}
	d += " pt"
	if o > 0 {
		d += ", ×" + strconv.FormatFloat(n/o, 'g', 3, 64)
	}
	return d
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func unionKeys[V any](a, b map[string]V) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, cmp.Compare)
	return keys
}

func injectorString(ig InjectorGuard) string {
	return "errorRate " + numString(ig.ErrorRate) + ", p99Ms " + numString(ig.P99Ms)
}
