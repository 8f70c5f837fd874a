// Package holtwinters fits Holt-Winters exponential smoothing (level, trend
// and an additive or multiplicative season) with the semantics of R's
// stats::HoltWinters, and forecasts with predict.HoltWinters' prediction
// intervals.
//
// The recursion, start values and objective are R's:
//
//   - Seasonal models take their start values from the first two periods:
//     l.start and b.start are the intercept and slope of a least-squares
//     line through the centred moving average (decompose()'s trend) of those
//     2p points, and s.start is decompose()'s seasonal figure. The recursion
//     starts at observation p+1 and the SSE sums the n-p one-step errors.
//   - Holt's model (no season) starts with l = y[2], b = y[2]-y[1] and
//     recurses from observation 3; simple exponential smoothing (no trend,
//     no season) starts with l = y[1] and recurses from observation 2.
//   - Parameters that are not fixed in Options are chosen by minimising the
//     SSE inside [0, 1], starting from alpha = 0.3, beta = 0.1, gamma = 0.1
//     as R does. R uses L-BFGS-B with finite-difference gradients; Fit uses
//     a projected quasi-Newton (BFGS) method with exact gradients from a
//     forward-mode pass through the recursion, which reaches the same or a
//     slightly lower SSE from the same start.
//
// A series shorter than two periods cannot be decomposed; Fit then falls
// back to Holt's model, or to simple exponential smoothing below three
// points, unless Options.NoFallback is set.
//
// Damped trend (Options.Damped) is an extension that R's HoltWinters does
// not have: the trend is multiplied by phi in (0, 1] at every step
// (Gardner and McKenzie), so the h-step forecast adds
// (phi + phi^2 + ... + phi^h) b instead of h b. With phi = 1 the model is
// exactly R's. When phi is not fixed it is optimised in [0.8, 0.98], the
// range used by Hyndman's forecast package.
package holtwinters

import (
	"fmt"
	"math"
	"strings"
)

// Seasonality is the kind of seasonal component.
type Seasonality int

// The seasonal components.
const (
	None           Seasonality = iota // no season
	Additive                          // y = level + trend + season
	Multiplicative                    // y = (level + trend) * season
)

func (s Seasonality) String() string {
	switch s {
	case None:
		return "none"
	case Additive:
		return "additive"
	case Multiplicative:
		return "multiplicative"
	}
	return fmt.Sprintf("Seasonality(%d)", int(s))
}

// ParseSeasonality parses "none", "additive" or "multiplicative" (or their
// first letters "n", "a", "m", as R's match.arg accepts prefixes).
func ParseSeasonality(s string) (Seasonality, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, k := range []Seasonality{None, Additive, Multiplicative} {
		if s != "" && strings.HasPrefix(k.String(), s) {
			return k, nil
		}
	}
	return None, fmt.Errorf("unknown seasonality %q: want additive, multiplicative or none", s)
}

// Method is the model that Fit fitted.
type Method int

// The fitted models.
const (
	HoltWinters Method = iota // level, trend and season
	Holt                      // level and trend (R: gamma = FALSE)
	SES                       // level only (R: beta = FALSE, gamma = FALSE)
)

func (m Method) String() string {
	switch m {
	case HoltWinters:
		return "holt-winters"
	case Holt:
		return "holt"
	case SES:
		return "ses"
	}
	return fmt.Sprintf("Method(%d)", int(m))
}

// Options control Fit.
type Options struct {
	// Period is the number of observations per season (12 for monthly
	// data with a yearly cycle). It must be at least 2 for a seasonal model
	// and is ignored when Seasonal is None.
	Period int
	// Seasonal is the kind of seasonal component.
	Seasonal Seasonality
	// Alpha, Beta and Gamma fix the smoothing parameters of the level,
	// trend and season; nil ones are optimised. Alpha must be in (0, 1],
	// Beta and Gamma in [0, 1]. Beta is ignored without a trend and Gamma
	// without a season.
	Alpha, Beta, Gamma *float64
	// NoTrend drops the trend of a non-seasonal model: simple exponential
	// smoothing (R's beta = FALSE).
	NoTrend bool
	// Damped damps the trend by Phi (see the package documentation).
	Damped bool
	// Phi fixes the damping factor, in (0, 1]; nil optimises it in
	// [0.8, 0.98]. Setting Phi requires Damped.
	Phi *float64
	// NoFallback makes a series shorter than the model needs an error
	// (ErrTooShort) instead of a fit of a simpler model.
	NoFallback bool
}

// Model is a fitted Holt-Winters model.
type Model struct {
	// Method is the model fitted: HoltWinters, or Holt or SES after a
	// fallback or when asked for.
	Method Method
	// Seasonality is the seasonal component fitted (None unless Method is
	// HoltWinters).
	Seasonality Seasonality
	// Period is the season length (1 without a season).
	Period int
	// Damped tells whether the trend is damped by Phi.
	Damped bool

	// Alpha, Beta, Gamma and Phi are the smoothing parameters used
	// (Beta = 0 without a trend, Gamma = 0 without a season, Phi = 1
	// unless damped).
	Alpha, Beta, Gamma, Phi float64
	// Optimized tells whether any parameter was optimised, and Iterations
	// how many quasi-Newton iterations that took.
	Optimized  bool
	Iterations int

	// SSE is the sum of the squared one-step errors, R's SSE.
	SSE float64
	// Level, Trend and Seasonal are the final states: R's coefficients a,
	// b and s1..sp. Seasonal[i] is the seasonal term of the forecast at
	// horizon i+1 (and every p steps after it).
	Level, Trend float64
	Seasonal     []float64

	// LStart, BStart and SStart are the start values of the recursion
	// (R's l.start, b.start, s.start).
	LStart, BStart float64
	SStart         []float64

	// Start is the 0-based index of the first observation with a one-step
	// forecast (p for Holt-Winters, 2 for Holt, 1 for SES).
	Start int
	// Fitted[i] is the one-step forecast of y[Start+i] (R's xhat), and
	// Residuals[i] = y[Start+i] - Fitted[i].
	Fitted, Residuals []float64
}

// Parameter bounds and R's optimiser start values.
const (
	alphaStart = 0.3
	betaStart  = 0.1
	gammaStart = 0.1
	phiStart   = 0.9
	phiLower   = 0.8
	phiUpper   = 0.98
)

// Fit fits a model to y with the options in opt.
func Fit(y []float64, opt Options) (*Model, error) {
	if err := checkOptions(opt); err != nil {
		return nil, err
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("y[%d] = %v: %w", i, v, ErrNonFinite)
		}
		if opt.Seasonal == Multiplicative && v <= 0 {
			return nil, fmt.Errorf("%w: y[%d] = %v", ErrNonPositive, i, v)
		}
	}
	method, err := chooseMethod(len(y), opt)
	if err != nil {
		return nil, err
	}

	w := newWork(y, method, opt)
	m := &Model{
		Method: method,
		Period: w.p,
		Damped: opt.Damped,
		LStart: w.l0,
		BStart: w.b0,
		Start:  w.start,
	}
	if method == HoltWinters {
		m.Seasonality = opt.Seasonal
		m.SStart = append([]float64(nil), w.s0...)
	}

	// theta = (alpha, beta, gamma, phi); free marks the optimised ones.
	theta := [nparam]float64{alphaStart, 0, 0, 1}
	var free [nparam]bool
	lo := [nparam]float64{0, 0, 0, 1}
	hi := [nparam]float64{1, 0, 0, 1}
	setParam := func(i int, fixed *float64, start float64) {
		if fixed != nil {
			theta[i] = *fixed
			return
		}
		theta[i] = start
		free[i] = true
		hi[i] = 1
	}
	setParam(0, opt.Alpha, alphaStart)
	if w.trend {
		setParam(1, opt.Beta, betaStart)
		if opt.Damped {
			if opt.Phi != nil {
				theta[3] = *opt.Phi
			} else {
				theta[3], free[3], lo[3], hi[3] = phiStart, true, phiLower, phiUpper
			}
		}
	}
	if w.season != None {
		setParam(2, opt.Gamma, gammaStart)
	}
	for _, f := range free {
		m.Optimized = m.Optimized || f
	}
	if m.Optimized {
		theta, m.Iterations = minimizeBox(w.eval, theta, free, lo, hi)
	}

	m.Alpha, m.Beta, m.Gamma, m.Phi = theta[0], theta[1], theta[2], theta[3]
	w.final(theta, m)
	return m, nil
}

func checkOptions(opt Options) error {
	in := func(name string, p *float64, lo float64, loOpen bool) error {
		if p == nil {
			return nil
		}
		v := *p
		if math.IsNaN(v) || v < lo || v > 1 || (loOpen && v == lo) {
			if loOpen {
				return fmt.Errorf("%w: %s = %v: want a value in (%v, 1]", ErrOptions, name, v, lo)
			}
			return fmt.Errorf("%w: %s = %v: want a value in [%v, 1]", ErrOptions, name, v, lo)
		}
		return nil
	}
	for _, err := range []error{
		in("alpha", opt.Alpha, 0, true),
		in("beta", opt.Beta, 0, false),
		in("gamma", opt.Gamma, 0, false),
		in("phi", opt.Phi, 0, true),
	} {
		if err != nil {
			return err
		}
	}
	switch opt.Seasonal {
	case None:
	case Additive, Multiplicative:
		if opt.Period < 2 {
			return fmt.Errorf("%w: period = %d: a seasonal model needs a period of at least 2", ErrOptions, opt.Period)
		}
		if opt.NoTrend {
			return fmt.Errorf("%w: NoTrend is only for models without a season", ErrOptions)
		}
	default:
		return fmt.Errorf("%w: unknown seasonality %d", ErrOptions, int(opt.Seasonal))
	}
	if opt.Phi != nil && !opt.Damped {
		return fmt.Errorf("%w: phi is set but Damped is not", ErrOptions)
	}
	if opt.Damped && opt.NoTrend {
		return fmt.Errorf("%w: a damped trend needs a trend (NoTrend is set)", ErrOptions)
	}
	return nil
}

// chooseMethod picks the model for n points: the one asked for, or a
// simpler one when n is too short for it (unless opt.NoFallback).
func chooseMethod(n int, opt Options) (Method, error) {
	want := HoltWinters
	switch {
	case opt.Seasonal == None && opt.NoTrend:
		want = SES
	case opt.Seasonal == None:
		want = Holt
	}
	need := func(m Method) int {
		switch m {
		case HoltWinters:
			return 2 * opt.Period
		case Holt:
			return 3
		}
		return 2
	}
	describe := func(m Method) string {
		switch m {
		case HoltWinters:
			return fmt.Sprintf("two periods of %d for a seasonal model", opt.Period)
		case Holt:
			return "Holt's trend model"
		}
		return "simple exponential smoothing"
	}
	if n >= need(want) {
		return want, nil
	}
	if opt.NoFallback {
		return 0, fmt.Errorf("%w: need at least %d points (%s), have %d", ErrTooShort, need(want), describe(want), n)
	}
	for m := want + 1; m <= SES; m++ {
		if opt.Damped && m == SES {
			break // a damped trend needs a trend
		}
		if n >= need(m) {
			return m, nil
		}
	}
	last := SES
	if opt.Damped {
		last = Holt
	}
	return 0, fmt.Errorf("%w: need at least %d points (%s), have %d", ErrTooShort, need(last), describe(last), n)
}
