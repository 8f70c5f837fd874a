package sim

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"

	"github.com/chaosgen/chaosgen/bundle"
	"golang.org/x/crypto/ssh"
)

// FoundThreshold is the weakness at which a profile counts as having found
// a weak spot (in a round that kept the guards).
const FoundThreshold = 0.25

// evaluate replays a bundle without and with faults and compares them.
func evaluate(ctx context.Context, o ReplayOptions, b *bundle.Bundle) ([]ProfileReport, *GuardReport, error) {
	opt := Options{Mesh: o.Mesh, Bundle: b, LoadFactor: o.LoadFactor, Seed: o.Seed}
	base, err := Run(ctx, o.Files, opt)
	if err != nil {
		return nil, nil, err
	}
	opt.Inject = true
	faults, err := Run(ctx, o.Files, opt)
	if err != nil {
		return nil, nil, err
	}
	return compare(b, o.Mesh, base, faults), guards(b, base, faults), nil
}

// RoundProfile is one profile's state and outcome in a round.
type RoundProfile struct {
	ID        string   `json:"id"`
	FaultType string   `json:"faultType"`
	Severity  string   `json:"severity"`
	Rate      float64  `json:"rate"`
	Arm       string   `json:"arm,omitempty"` // the learning agent's choice
	Verdict   string   `json:"verdict"`
	Score     *float64 `json:"score"`
	Weakness  float64  `json:"weakness"`
	Reward    *float64 `json:"reward,omitempty"`
	Found     bool     `json:"found"`
}

// Round is one round of the adaptive loop or the learning agent.
type Round struct {
	Round          int            `json:"round"`
	GuardsBreached bool           `json:"guardsBreached"`
	Profiles       []RoundProfile `json:"profiles"`
	// FoundSoFar is the number of distinct profile targets found weak up to
	// and including this round: the learning curve.
	FoundSoFar int `json:"foundSoFar"`
}

// LoopReport is adapt.json and one half of learn.json.
type LoopReport struct {
	Rounds []Round `json:"rounds"`
	// FirstFound is the round each profile first found a weak spot (absent:
	// never).
	FirstFound map[string]int `json:"firstFound"`
}

// Adapt runs the adaptive loop: after each round, a profile whose roots
// stayed within the guards gets rate × 1.5 (up to maxRate; 0.01 from 0); a
// struggling one gets a milder fault (drop and corrupt become abort 503) or
// rate × 0.5 and one severity step down (milder). It returns the rounds and the tuned bundle.
func Adapt(ctx context.Context, o ReplayOptions, rounds int) (*LoopReport, *bundle.Bundle, error) {
	b := cloneBundle(o.Bundle)
	lr := &LoopReport{FirstFound: map[string]int{}}
	for r := 1; r <= rounds; r++ {
		prs, g, err := evaluate(ctx, o, b)
		if err != nil {
			return nil, nil, err
		}
		rd := Round{Round: r, GuardsBreached: g.Breached}
		for i := range b.Profiles {
			p := &b.Profiles[i]
			pr := prs[i]
			rp := RoundProfile{ID: p.ID, FaultType: p.Fault.Type, Severity: p.Severity, Rate: p.Rate, Verdict: pr.Verdict, Score: pr.Score, Weakness: pr.Weakness}
			rp.Found = !g.Breached && pr.Weakness >= FoundThreshold
			rd.Profiles = append(rd.Profiles, rp)
			if pr.Verdict == "struggling" || g.Breached && pr.Injected > 0 {
				milder(p)
			} else {
				p.Rate = bundle.Round(min(p.MaxRate, max(p.Rate*1.5, 0.01)))
			}
		}
		lr.add(rd, r)
	}
	return lr, b, nil
}

func (lr *LoopReport) add(rd Round, r int) {
	for _, p := range rd.Profiles {
		if _, ok := lr.FirstFound[p.ID]; !ok && p.Found {
			lr.FirstFound[p.ID] = r
		}
	}
	rd.FoundSoFar = len(lr.FirstFound)
	lr.Rounds = append(lr.Rounds, rd)
}

// replayAbort is the abort a drop or corrupt fault steps down to in
// replay, which knows no edge's own error status: 503, gRPC UNAVAILABLE.
var replayAbort = bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503, GRPCStatus: 14}

// milder makes a struggling profile gentler: a milder fault of another type
// by the one rule, bundle.Milder (drop and corrupt become replayAbort;
// replay knows no edge's tail latency, so abort goes no further), or else
// rate × 0.5 and one severity step down.
func milder(p *bundle.Profile) {
	if g, ok := bundle.Milder(p.Fault, replayAbort, bundle.Fault{}); ok && g.Type != p.Fault.Type {
		p.Fault = g
		return
	}
	p.Rate = bundle.Round(p.Rate * 0.5)
	switch p.Severity {
	case bundle.SeverityCritical:
		p.Severity = bundle.SeverityModerate
	case bundle.SeverityModerate:
		p.Severity = bundle.SeverityMinor
	}
}

// arm is one action of the learning agent on a profile: a fault type at a
// rate level (a fraction of the profile's maxRate). Arm 0 is the profile as
// given.
type arm struct {
	fault string
	level float64
}

var learnArms = func() []arm {
	arms := []arm{{}}
	for _, f := range bundle.FaultTypes {
		for _, l := range []float64{0.25, 0.5, 1} {
			arms = append(arms, arm{f, l})
		}
	}
	return arms
}()

func (a arm) String() string {
	if a.fault == "" {
		return "as-given"
	}
	return fmt.Sprintf("%s@%g", a.fault, a.level)
}

// apply returns profile p changed to arm a.
func (a arm) apply(orig bundle.Profile) bundle.Profile {
	p := orig
	if a.fault == "" {
		return p
	}
	p.Rate = bundle.Round(orig.MaxRate * a.level)
	switch a.fault {
	case orig.Fault.Type:
	case bundle.FaultLatency:
		p.Fault = bundle.Fault{Type: bundle.FaultLatency, DelayMs: 1000}
	case bundle.FaultAbort:
		p.Fault = bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503, GRPCStatus: 14}
	case bundle.FaultDrop:
		p.Fault = bundle.Fault{Type: bundle.FaultDrop}
	case bundle.FaultCorrupt:
		p.Fault = bundle.Fault{Type: bundle.FaultCorrupt, Mode: bundle.CorruptTruncate}
	}
	return p
}

// Learn runs the learning agent: per profile (its target edge is the
// context), a UCB1 bandit over fault type × rate level. Each round every
// profile plays its arm with the highest mean reward + sqrt(2 ln t / n)
// (untried arms first, in order, so round 1 plays the bundle as given);
// the reward is the profile's weakness when the round kept the bundle's
// guards and minus it when it broke them. It returns the rounds and a
// bundle of each profile's best arm.
func Learn(ctx context.Context, o ReplayOptions, rounds int) (*LoopReport, *bundle.Bundle, error) {
	orig := o.Bundle
	n := len(orig.Profiles)
	pulls := make([][]float64, n)
	sums := make([][]float64, n)
	for i := range pulls {
		pulls[i] = make([]float64, len(learnArms))
		sums[i] = make([]float64, len(learnArms))
	}
	lr := &LoopReport{FirstFound: map[string]int{}}
	choice := make([]int, n)
	for r := 1; r <= rounds; r++ {
		b := cloneBundle(orig)
		for i := range b.Profiles {
			choice[i] = ucb(pulls[i], sums[i], r)
			b.Profiles[i] = learnArms[choice[i]].apply(orig.Profiles[i])
		}
		prs, g, err := evaluate(ctx, o, b)
		if err != nil {
			return nil, nil, err
		}
		rd := Round{Round: r, GuardsBreached: g.Breached}
		for i := range b.Profiles {
			p := &b.Profiles[i]
			pr := prs[i]
			reward := pr.Weakness
			if g.Breached {
				reward = -pr.Weakness
			}
			pulls[i][choice[i]]++
			sums[i][choice[i]] += reward
			rw := bundle.Round(reward)
			rd.Profiles = append(rd.Profiles, RoundProfile{ID: p.ID, FaultType: p.Fault.Type, Severity: p.Severity, Rate: p.Rate,
				Arm: learnArms[choice[i]].String(), Verdict: pr.Verdict, Score: pr.Score, Weakness: pr.Weakness, Reward: &rw,
				Found: !g.Breached && pr.Weakness >= FoundThreshold})
		}
		lr.add(rd, r)
	}
	best := cloneBundle(orig)
	for i := range best.Profiles {
		k, bestMean := 0, math.Inf(-1)
		for a := range learnArms {
			if pulls[i][a] > 0 && sums[i][a]/pulls[i][a] > bestMean {
				k, bestMean = a, sums[i][a]/pulls[i][a]
			}
		}
		best.Profiles[i] = learnArms[k].apply(orig.Profiles[i])
	}
	return lr, best, nil
}

func ucb(pulls, sums []float64, t int) int {
	for a, n := range pulls {
		if n == 0 {
			return a
		}
	}
	best, bestV := 0, math.Inf(-1)
	for a := range pulls {
		v := sums[a]/pulls[a] + math.Sqrt(2*math.Log(float64(t))/pulls[a])
		if v > bestV {
			best, bestV = a, v
		}
	}
	return best
}

func cloneBundle(b *bundle.Bundle) *bundle.Bundle {
	c := *b
	c.Profiles = slices.Clone(b.Profiles)
	return &c
}

// runLoops runs the loops Replay was asked for and writes their files.
func runLoops(ctx context.Context, o ReplayOptions, dir string) error {
	var signer ssh.Signer
	if o.SignKey != "" {
		// Loaded before any round, so a key that cannot sign stops the
		// loops before they write anything.
		var err error
		if signer, err = bundle.LoadSigner(o.SignKey); err != nil {
			return fmt.Errorf("signing: %w", err)
		}
	}
	rounds := max(1, o.Rounds)
	adapt, tuned, err := Adapt(ctx, o, rounds)
	if err != nil {
		return fmt.Errorf("adaptive loop: %w", err)
	}
	if o.Adapt {
		if err := writeJSON(filepath.Join(dir, "adapt.json"), adapt); err != nil {
			return err
		}
		if _, err := bundle.Write(filepath.Join(dir, "bundle.json"), tuned, signer); err != nil {
			return err
		}
	}
	if o.Learn {
		learn, best, err := Learn(ctx, o, rounds)
		if err != nil {
			return fmt.Errorf("learning: %w", err)
		}
		lj := struct {
			Threshold float64     `json:"foundThreshold"`
			Learn     *LoopReport `json:"learn"`
			Adaptive  *LoopReport `json:"adaptive"`
		}{FoundThreshold, learn, adapt}
		if err := writeJSON(filepath.Join(dir, "learn.json"), lj); err != nil {
			return err
		}
		if _, err := bundle.Write(filepath.Join(dir, "learned.bundle.json"), best, signer); err != nil {
			return err
		}
	}
	return nil
}
