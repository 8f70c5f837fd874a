package holtwinters

import "math"

// Forecast returns the point forecasts for horizons 1..h and the bounds of
// prediction intervals with coverage level (0.95 for 95%), as R's
// predict.HoltWinters(n.ahead = h, prediction.interval = TRUE, level).
//
// The point forecast at horizon k is Level + k Trend, plus (additive) or
// times (multiplicative) Seasonal[(k-1) mod p]; a damped trend adds
// (phi + ... + phi^k) Trend instead of k Trend.
//
// The interval is the point forecast ± qnorm((1+level)/2) sqrt(v_k), where
// v_k is var(Residuals) (sample variance) times R's factor:
//
//	additive:       1 + sum_{j=1}^{k-1} psi_j^2
//	multiplicative: sum_{j=0}^{k-1} (psi_j s_r / s_{1+(r-j-1) mod p})^2, r = 1+(k-1) mod p
//	psi_j = alpha (1 + j beta) + [j mod p == 0] gamma (1 - alpha)
//
// Two departures from R, both documented: with a damped trend j beta
// becomes beta (phi + ... + phi^j); and in the multiplicative case R
// indexes the divisor as coefficients[2 + (r-j) mod p], which is s_{(r-j)
// mod p} except when (r-j) mod p = 0, where it picks the trend b instead
// of s_p; Forecast uses s_p there. Models without a season use the
// additive formula (as R does for gamma = FALSE).
//
// lower and upper are nil when level is not in (0, 1) or when there are
// fewer than two residuals to estimate the variance from. Forecast
// returns nil slices for h < 1.
func (m *Model) Forecast(h int, level float64) (point, lower, upper []float64) {
	if h < 1 {
		return nil, nil, nil
	}
	p := m.Period
	point = make([]float64, h)
	damp := 0.0 // phi + ... + phi^k
	pk := 1.0
	for k := 1; k <= h; k++ {
		pk *= m.Phi
		damp += pk
		if !m.Damped {
			damp = float64(k)
		}
		f := m.Level + damp*m.Trend
		switch m.Seasonality {
		case Additive:
			f += m.Seasonal[(k-1)%p]
		case Multiplicative:
			f *= m.Seasonal[(k-1)%p]
		}
		point[k-1] = f
	}

	if !(level > 0 && level < 1) || len(m.Residuals) < 2 {
		return point, nil, nil
	}
	v := variance(m.Residuals)
	q := math.Sqrt2 * math.Erfinv(level) // qnorm((1+level)/2)

	// psi[j] for j = 0..h-1.
	psi := make([]float64, h)
	damp, pk = 0, 1
	for j := range psi {
		if j > 0 {
			pk *= m.Phi
			damp += pk
		}
		if !m.Damped {
			damp = float64(j)
		}
		psi[j] = m.Alpha * (1 + damp*m.Beta)
		if j%p == 0 {
			psi[j] += m.Gamma * (1 - m.Alpha)
		}
	}

	lower = make([]float64, h)
	upper = make([]float64, h)
	sum := 1.0 // additive factor, accumulated over k
	for k := 1; k <= h; k++ {
		var factor float64
		if m.Seasonality == Multiplicative {
			r := 1 + (k-1)%p
			for j := range k {
				div := m.Seasonal[(((r-j-1)%p)+p)%p]
				c := psi[j] * m.Seasonal[r-1] / div
				factor += c * c
			}
		} else {
			if k > 1 {
				sum += psi[k-1] * psi[k-1]
			}
			factor = sum
		}
		half := q * math.Sqrt(v*factor)
		lower[k-1] = point[k-1] - half
		upper[k-1] = point[k-1] + half
	}
	return point, lower, upper
}

// variance is R's var(): the sample variance with denominator n-1.
func variance(x []float64) float64 {
	mean := meanOf(x)
	var s float64
	for _, v := range x {
		d := v - mean
		s += d * d
	}
	return s / float64(len(x)-1)
}
