package holtwinters

import "math"

// Optimiser settings.
const (
	maxIter = 200
	// ftol stops the search when an iteration lowers f by less than this
	// fraction twice in a row (R's L-BFGS-B default factr = 1e7 stops at
	// about 2.2e-9; this is stricter).
	ftol = 1e-12
	// pgtol stops the search when the projected gradient, scaled by f, is
	// this small.
	pgtol = 1e-10
)

// minimizeBox minimises f over the box lo <= x <= hi in the coordinates
// marked free (the others stay at x0) with a projected quasi-Newton
// method: BFGS on the coordinates that are not held at a bound, a
// projected backtracking (Armijo) line search, and a reset of the inverse
// Hessian whenever the set of coordinates at a bound changes. It returns
// the minimiser and the number of iterations.
//
// A non-finite f (a multiplicative model whose level reaches 0) counts as
// +Inf: the line search backs off from it.
func minimizeBox(f func(x, g *[nparam]float64) float64, x0 [nparam]float64, free [nparam]bool, lo, hi [nparam]float64) ([nparam]float64, int) {
	var idx []int
	for i, ok := range free {
		if ok {
			idx = append(idx, i)
		}
	}
	x := x0
	for _, i := range idx {
		x[i] = min(max(x[i], lo[i]), hi[i])
	}
	var g [nparam]float64
	fx := f(&x, &g)
	if !isFinite(fx) {
		return x, 0
	}

	var H [nparam][nparam]float64 // inverse Hessian approximation
	var active, prevActive [nparam]bool
	fresh := true
	resetH := func(scale float64) {
		H = [nparam][nparam]float64{}
		for _, i := range idx {
			H[i][i] = scale
		}
		fresh = true
	}
	firstScale := func() float64 {
		gmax := 0.0
		for _, i := range idx {
			gmax = max(gmax, math.Abs(g[i]))
		}
		if gmax == 0 {
			return 1
		}
		return 0.1 / gmax // first step moves at most 0.1
	}
	resetH(firstScale())
	scale := 0.0 // curvature scale once known (s'y / y'y)
	small := 0

	it := 0
	for it = 1; it <= maxIter; it++ {
		// Projected gradient and the coordinates held at a bound.
		pg := 0.0
		for _, i := range idx {
			active[i] = (x[i] <= lo[i] && g[i] > 0) || (x[i] >= hi[i] && g[i] < 0)
			pg = max(pg, math.Abs(min(max(x[i]-g[i], lo[i]), hi[i])-x[i]))
		}
		if pg <= pgtol*max(math.Abs(fx), 1e-300) || pg == 0 {
			break
		}
		if active != prevActive && !fresh {
			if scale > 0 {
				resetH(scale)
			} else {
				resetH(firstScale())
			}
		}
		prevActive = active

		// Direction: -H g on the free, inactive coordinates.
		var d [nparam]float64
		gd := 0.0
		for _, i := range idx {
			if active[i] {
				continue
			}
			for _, j := range idx {
				if !active[j] {
					d[i] -= H[i][j] * g[j]
				}
			}
			gd += g[i] * d[i]
		}
		if gd >= 0 {
			if fresh {
				break
			}
			if scale > 0 {
				resetH(scale)
			} else {
				resetH(firstScale())
			}
			it--
			continue
		}

		// Projected backtracking line search.
		var xn, gn [nparam]float64
		var fn float64
		t := 1.0
		ok := false
		for range 60 {
			xn = x
			moved := false
			dec := 0.0 // g . (xn - x)
			for _, i := range idx {
				xn[i] = min(max(x[i]+t*d[i], lo[i]), hi[i])
				if xn[i] != x[i] {
					moved = true
				}
				dec += g[i] * (xn[i] - x[i])
			}
			if !moved {
				break
			}
			fn = f(&xn, &gn)
			if isFinite(fn) && fn <= fx+1e-4*dec {
				ok = true
				break
			}
			t *= 0.5
		}
		if !ok {
			if fresh {
				break // no descent even along the gradient: done
			}
			if scale > 0 {
				resetH(scale)
			} else {
				resetH(firstScale())
			}
			it--
			continue
		}

		// BFGS update of the inverse Hessian.
		var s, yv [nparam]float64
		sy, yy := 0.0, 0.0
		for _, i := range idx {
			s[i] = xn[i] - x[i]
			yv[i] = gn[i] - g[i]
			sy += s[i] * yv[i]
			yy += yv[i] * yv[i]
		}
		if sy > 1e-12*math.Sqrt(yy)*norm(s, idx) && yy > 0 {
			if fresh {
				scale = sy / yy
				resetH(scale)
			}
			bfgsUpdate(&H, s, yv, sy, idx)
			fresh = false
		}

		rel := (fx - fn) / max(math.Abs(fx), math.Abs(fn), 1e-300)
		x, g, fx = xn, gn, fn
		if rel < ftol {
			if small++; small >= 2 {
				break
			}
		} else {
			small = 0
		}
	}
	return x, min(it, maxIter)
}

// bfgsUpdate applies the inverse-Hessian BFGS update
// H <- (I - rho s y') H (I - rho y s') + rho s s' with rho = 1/(s'y).
func bfgsUpdate(H *[nparam][nparam]float64, s, y [nparam]float64, sy float64, idx []int) {
	rho := 1 / sy
	var Hy [nparam]float64
	yHy := 0.0
	for _, i := range idx {
		for _, j := range idx {
			Hy[i] += H[i][j] * y[j]
		}
		yHy += y[i] * Hy[i]
	}
	for _, i := range idx {
		for _, j := range idx {
			H[i][j] += -rho*(Hy[i]*s[j]+s[i]*Hy[j]) + (rho*rho*yHy+rho)*s[i]*s[j]
		}
	}
}

func norm(v [nparam]float64, idx []int) float64 {
	s := 0.0
	for _, i := range idx {
		s += v[i] * v[i]
	}
	return math.Sqrt(s)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
