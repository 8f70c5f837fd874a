package holtwinters

import "math"

// startValues returns R's start values for a seasonal model from x, the
// first two periods of the series: the intercept and slope of a
// least-squares line through the decompose() trend, and the decompose()
// seasonal figure.
func startValues(x []float64, p int, kind Seasonality) (l0, b0 float64, figure []float64) {
	trend := movingAverage(x, p)

	// Seasonal figure: mean of the detrended values of each phase,
	// normalised to sum 0 (additive) or mean 1 (multiplicative).
	figure = make([]float64, p)
	for i := range figure {
		var sum float64
		var cnt int
		for j := i; j < len(x); j += p {
			if math.IsNaN(trend[j]) {
				continue
			}
			if kind == Multiplicative {
				sum += x[j] / trend[j]
			} else {
				sum += x[j] - trend[j]
			}
			cnt++
		}
		figure[i] = sum / float64(cnt)
	}
	mean := meanOf(figure)
	for i := range figure {
		if kind == Multiplicative {
			figure[i] /= mean
		} else {
			figure[i] -= mean
		}
	}

	// Least-squares line through the defined trend values at t = 1..m.
	var dat []float64
	for _, v := range trend {
		if !math.IsNaN(v) {
			dat = append(dat, v)
		}
	}
	n := float64(len(dat))
	tbar := (n + 1) / 2
	ybar := meanOf(dat)
	var sxy, sxx float64
	for i, v := range dat {
		d := float64(i+1) - tbar
		sxy += d * (v - ybar)
		sxx += d * d
	}
	b0 = sxy / sxx
	l0 = ybar - b0*tbar
	return l0, b0, figure
}

// movingAverage is R's filter(x, f, sides = 2) with decompose()'s filter:
// a centred moving average over p points (p odd) or a 2xp average with
// half weights at both ends (p even). Undefined ends are NaN.
func movingAverage(x []float64, p int) []float64 {
	var w []float64
	if p%2 == 0 {
		w = make([]float64, p+1)
		for i := range w {
			w[i] = 1 / float64(p)
		}
		w[0], w[p] = 0.5/float64(p), 0.5/float64(p)
	} else {
		w = make([]float64, p)
		for i := range w {
			w[i] = 1 / float64(p)
		}
	}
	nf, shift := len(w), len(w)/2
	out := make([]float64, len(x))
	for i := range out {
		if i+shift-(nf-1) < 0 || i+shift >= len(x) {
			out[i] = math.NaN()
			continue
		}
		var z float64
		for j := range nf {
			z += w[j] * x[i+shift-j]
		}
		out[i] = z
	}
	return out
}

// meanOf is R's mean(): the sum divided by n, corrected by the mean of the
// residuals.
func meanOf(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	n := float64(len(x))
	s /= n
	var t float64
	for _, v := range x {
		t += v - s
	}
	return s + t/n
}
