package bundle

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
)

// Encode returns the canonical encoding of b: the bytes that are signed and
// committed. The same bundle always gives the same bytes:
//
//   - object keys in sorted order, two-space indent, a final newline, no
//     HTML escaping;
//   - profiles sorted by id and source files by path; empty lists written
//     as [], empty maps and zero optional fields left out;
//   - every number rounded to 6 decimals (see Round) and written in the
//     shortest form that reads back as the same float64, never with an
//     exponent; NaN, infinities and magnitudes of 1e15 or more rejected;
//   - times in UTC, RFC 3339 with as many fractional digits as needed.
//
// Encode validates the canonical form of b and fails, wrapping ErrInvalid,
// if it breaks a rule. Decoding its output and encoding again gives the same
// bytes. b itself is not modified.
func Encode(b *Bundle) ([]byte, error) {
	c, err := canonical(b)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(c); err != nil {
		return nil, fieldErr("", "%v", err)
	}
	return buf.Bytes(), nil
}

// Canonical decodes data strictly and returns its canonical encoding.
func Canonical(data []byte) ([]byte, error) {
	b, err := Decode(data)
	if err != nil {
		return nil, err
	}
	return Encode(b)
}

// Digest returns the SHA-256 of data in lowercase hex, for display.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// Round rounds x to the nearest multiple of 10^-6 by decimal rounding (so
// that Round(Round(x)) == Round(x) for every finite x below 1e15), and turns
// -0 into 0.
func Round(x float64) float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return x // left for Validate to report
	}
	y, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', Decimals, 64), 64)
	if y == 0 {
		return 0 // not -0
	}
	return y
}

// canonical returns a validated deep copy of b in canonical form.
func canonical(b *Bundle) (*Bundle, error) {
	c := *b
	m := &c.Metadata
	m.NotAfter = m.NotAfter.UTC()
	m.Source.TimeRange.Start = m.Source.TimeRange.Start.UTC()
	m.Source.TimeRange.End = m.Source.TimeRange.End.UTC()
	m.Params = maps.Clone(m.Params)
	if len(m.Params) == 0 {
		m.Params = nil
	}
	m.Source.Files = slices.Clone(m.Source.Files)
	if m.Source.Files == nil {
		m.Source.Files = []SourceFile{}
	}
	slices.SortStableFunc(m.Source.Files, func(x, y SourceFile) int { return cmp.Compare(x.Path, y.Path) })

	g := &c.Guards
	g.MaxGlobalRate = Round(g.MaxGlobalRate)
	g.AbortIf.RootErrorRate = Round(g.AbortIf.RootErrorRate)
	g.AbortIf.RootP99Ms = Round(g.AbortIf.RootP99Ms)
	g.Injectors = slices.Clone(g.Injectors)
	if len(g.Injectors) == 0 {
		g.Injectors = nil
	}
	slices.SortStableFunc(g.Injectors, func(x, y InjectorGuard) int { return cmp.Compare(x.Service, y.Service) })
	for i := range g.Injectors {
		g.Injectors[i].ErrorRate = Round(g.Injectors[i].ErrorRate)
		g.Injectors[i].P99Ms = Round(g.Injectors[i].P99Ms)
	}

	c.Profiles = slices.Clone(b.Profiles)
	if c.Profiles == nil {
		c.Profiles = []Profile{}
	}
	slices.SortStableFunc(c.Profiles, func(x, y Profile) int { return cmp.Compare(x.ID, y.ID) })
	for i := range c.Profiles {
		p := &c.Profiles[i]
		p.Rate = Round(p.Rate)
		p.MaxRate = Round(p.MaxRate)
		p.PerSecond = Round(p.PerSecond)
		p.Fault.DelayMs = Round(p.Fault.DelayMs)
		p.Fault.Factor = Round(p.Fault.Factor)
		p.Fault.JitterMs = Round(p.Fault.JitterMs)
		p.Rationale.Features = roundMap(p.Rationale.Features)
		p.Rationale.Scores = roundMap(p.Rationale.Scores)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func roundMap(m map[string]float64) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[k] = Round(v)
	}
	return out
}
