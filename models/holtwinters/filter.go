package holtwinters

// nparam is the number of smoothing parameters: alpha, beta, gamma, phi.
const nparam = 4

// work holds a series, its start values and the scratch space of the
// recursion, so that eval (called thousands of times by the optimiser)
// allocates nothing.
type work struct {
	y      []float64
	season Seasonality // None, Additive or Multiplicative
	trend  bool
	p      int // season length; 1 without a season
	start  int // 0-based index of the first one-step forecast
	l0, b0 float64
	s0     []float64 // start seasonal terms (len p; nil without a season)

	s  []float64         // seasonal ring: s[k] is the term for the next step of phase k
	ds [][nparam]float64 // derivatives of s
}

func newWork(y []float64, method Method, opt Options) *work {
	w := &work{y: y, p: 1}
	switch method {
	case HoltWinters:
		w.season, w.trend, w.p, w.start = opt.Seasonal, true, opt.Period, opt.Period
		w.l0, w.b0, w.s0 = startValues(y[:2*opt.Period], opt.Period, opt.Seasonal)
		w.s = make([]float64, w.p)
		w.ds = make([][nparam]float64, w.p)
	case Holt:
		w.trend, w.start = true, 2
		w.l0, w.b0 = y[1], y[1]-y[0]
	case SES:
		w.start = 1
		w.l0 = y[0]
	}
	return w
}

// eval runs the recursion with parameters th = (alpha, beta, gamma, phi)
// and returns the SSE of the one-step forecasts. When g is not nil it also
// stores the gradient of the SSE with respect to th, computed by
// forward-mode differentiation of the recursion.
//
// The arithmetic follows R's C_HoltWinters in order of operations, so that
// the fitted values agree to rounding.
func (w *work) eval(th *[nparam]float64, g *[nparam]float64) float64 {
	if g == nil {
		return w.sse(th)
	}
	if w.season == None && w.trend {
		return w.evalTrend(th, g)
	}
	return w.evalGeneral(th, g)
}

// evalGeneral is eval for every method.
func (w *work) evalGeneral(th *[nparam]float64, g *[nparam]float64) float64 {
	alpha, beta, gamma, phi := th[0], th[1], th[2], th[3]
	y, p := w.y, w.p
	l, b := w.l0, w.b0
	if !w.trend {
		b = 0
	}
	copy(w.s, w.s0)
	clear(w.ds)
	var dl, db, dsse [nparam]float64
	var sse float64
	k := 0
	for t := w.start; t < len(y); t++ {
		yt := y[t]
		m := l + phi*b
		var dm [nparam]float64
		for i := range dm {
			dm[i] = dl[i] + phi*db[i]
		}
		dm[3] += b
		var so float64
		var dso [nparam]float64
		if w.season != None {
			so, dso = w.s[k], w.ds[k]
		}

		// One-step forecast, level.
		var xhat, ln float64
		var dxhat, dln [nparam]float64
		if w.season == Multiplicative {
			xhat = m * so
			ln = alpha*(yt/so) + (1-alpha)*m
			r := yt / (so * so)
			for i := range dxhat {
				dxhat[i] = dm[i]*so + m*dso[i]
				dln[i] = -alpha*r*dso[i] + (1-alpha)*dm[i]
			}
			dln[0] += yt/so - m
		} else {
			xhat = m + so
			ln = alpha*(yt-so) + (1-alpha)*m
			for i := range dxhat {
				dxhat[i] = dm[i] + dso[i]
				dln[i] = -alpha*dso[i] + (1-alpha)*dm[i]
			}
			dln[0] += (yt - so) - m
		}
		e := yt - xhat
		sse += e * e
		for i := range dsse {
			dsse[i] -= 2 * e * dxhat[i]
		}

		// Trend.
		if w.trend {
			bn := beta*(ln-l) + (1-beta)*phi*b
			var dbn [nparam]float64
			for i := range dbn {
				dbn[i] = beta*(dln[i]-dl[i]) + (1-beta)*phi*db[i]
			}
			dbn[1] += (ln - l) - phi*b
			dbn[3] += (1 - beta) * b
			b, db = bn, dbn
		}

		// Season.
		if w.season != None {
			var sn float64
			var dsn [nparam]float64
			if w.season == Multiplicative {
				sn = gamma*(yt/ln) + (1-gamma)*so
				r := yt / (ln * ln)
				for i := range dsn {
					dsn[i] = -gamma*r*dln[i] + (1-gamma)*dso[i]
				}
				dsn[2] += yt/ln - so
			} else {
				sn = gamma*(yt-ln) + (1-gamma)*so
				for i := range dsn {
					dsn[i] = -gamma*dln[i] + (1-gamma)*dso[i]
				}
				dsn[2] += (yt - ln) - so
			}
			w.s[k], w.ds[k] = sn, dsn
			if k++; k == p {
				k = 0
			}
		}
		l, dl = ln, dln
	}
	*g = dsse
	return sse
}

// evalTrend is eval for Holt's trend without a season (damped or not),
// the forecasts of analyze on less than two days: evalGeneral with the
// seasonal term, which is 0, and the gradient with respect to gamma, which
// is 0 and which the optimiser never reads (gamma is not free without a
// season), left out. Every other value comes from the same operations in
// the same order, so the SSE and the gradient are evalGeneral's to the bit
// (TestEvalTrendIsGeneral): x + 0 and x - 0 are x, and -alpha*0 + y is y.
// The derivatives are scalars here, not arrays: a third of the time.
func (w *work) evalTrend(th *[nparam]float64, g *[nparam]float64) float64 {
	alpha, beta, phi := th[0], th[1], th[3]
	y := w.y
	l, b := w.l0, w.b0
	// d/dalpha, d/dbeta, d/dphi of the level and of the trend
	var dl0, dl1, dl3, db0, db1, db3 float64
	var g0, g1, g3, sse float64
	for t := w.start; t < len(y); t++ {
		yt := y[t]
		m := l + phi*b
		dm0 := dl0 + phi*db0
		dm1 := dl1 + phi*db1
		dm3 := dl3 + phi*db3
		dm3 += b

		// One-step forecast (m), level.
		ln := alpha*yt + (1-alpha)*m
		dln0 := (1 - alpha) * dm0
		dln1 := (1 - alpha) * dm1
		dln3 := (1 - alpha) * dm3
		dln0 += yt - m
		e := yt - m
		sse += e * e
		g0 -= 2 * e * dm0
		g1 -= 2 * e * dm1
		g3 -= 2 * e * dm3

		// Trend.
		bn := beta*(ln-l) + (1-beta)*phi*b
		dbn0 := beta*(dln0-dl0) + (1-beta)*phi*db0
		dbn1 := beta*(dln1-dl1) + (1-beta)*phi*db1
		dbn3 := beta*(dln3-dl3) + (1-beta)*phi*db3
		dbn1 += (ln - l) - phi*b
		dbn3 += (1 - beta) * b
		b, db0, db1, db3 = bn, dbn0, dbn1, dbn3
		l, dl0, dl1, dl3 = ln, dln0, dln1, dln3
	}
	*g = [nparam]float64{g0, g1, 0, g3}
	return sse
}

// sse is eval without the gradient.
func (w *work) sse(th *[nparam]float64) float64 {
	sum, _, _, _ := w.run(th, nil, nil)
	return sum
}

// run is the Holt-Winters recursion with parameters th from the initial
// states: it returns the sum of squared one-step errors, the final level and
// trend, and the ring slot of the next step's seasonal term (the ring itself
// is w.s). fitted and resid, when not nil, receive each step's one-step
// forecast and error.
func (w *work) run(th *[nparam]float64, fitted, resid []float64) (sum, l, b float64, k int) {
	alpha, beta, gamma, phi := th[0], th[1], th[2], th[3]
	y, p := w.y, w.p
	l, b = w.l0, w.b0
	if !w.trend {
		b = 0
	}
	s := w.s
	copy(s, w.s0)
	for t := w.start; t < len(y); t++ {
		yt := y[t]
		m := l + phi*b
		var xhat, ln float64
		switch w.season {
		case Additive:
			so := s[k]
			xhat = m + so
			ln = alpha*(yt-so) + (1-alpha)*m
			s[k] = gamma*(yt-ln) + (1-gamma)*so
			if k++; k == p {
				k = 0
			}
		case Multiplicative:
			so := s[k]
			xhat = m * so
			ln = alpha*(yt/so) + (1-alpha)*m
			s[k] = gamma*(yt/ln) + (1-gamma)*so
			if k++; k == p {
				k = 0
			}
		default:
			xhat = m
			ln = alpha*yt + (1-alpha)*m
		}
		e := yt - xhat
		sum += e * e
		if fitted != nil {
			fitted[t-w.start] = xhat
			resid[t-w.start] = e
		}
		if w.trend {
			b = beta*(ln-l) + (1-beta)*phi*b
		}
		l = ln
	}
	return sum, l, b, k
}

// final runs the recursion once more with th and fills in m's SSE, final
// states, fitted values and residuals.
func (w *work) final(th [nparam]float64, m *Model) {
	n := len(w.y) - w.start
	m.Fitted = make([]float64, n)
	m.Residuals = make([]float64, n)
	sum, l, b, k := w.run(&th, m.Fitted, m.Residuals)
	m.SSE = sum
	m.Level = l
	if w.trend {
		m.Trend = b
	}
	if w.season != None {
		// The ring slot k holds the term for the next step.
		p := w.p
		m.Seasonal = make([]float64, p)
		for i := range m.Seasonal {
			m.Seasonal[i] = w.s[(k+i)%p]
		}
	}
}
