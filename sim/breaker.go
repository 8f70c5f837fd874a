package sim

// Breaker states.
const (
	brClosed uint8 = iota
	brOpen
	brHalfOpen
)

// breaker is Envoy-like outlier detection for one caller→callee edge:
// consecutive failures, or an error ratio over a window, eject the callee
// for OpenTime × ejections (capped at MaxOpenTime); then up to
// HalfOpenProbes trial tries go through: all succeeding closes the breaker,
// one failing ejects again for longer.
type breaker struct {
	state     uint8
	openUntil int64
	ejections int64
	consec    int
	winStart  int64
	winCalls  int
	winErrs   int
	probes    int // probes sent in half-open
	probeOK   int
}

func (b *breaker) allow(now int64, c *CircuitBreaker) bool {
	if b.state == brOpen {
		if now < b.openUntil {
			return false
		}
		b.state, b.probes, b.probeOK = brHalfOpen, 0, 0
	}
	if b.state == brHalfOpen {
		if b.probes >= max(1, c.HalfOpenProbes) {
			return false
		}
		b.probes++
	}
	return true
}

// record counts a try's outcome and reports whether the breaker opened.
func (b *breaker) record(now int64, c *CircuitBreaker, failed bool) bool {
	switch b.state {
	case brOpen:
		return false // a try sent before the breaker opened
	case brHalfOpen:
		if failed {
			b.eject(now, c)
			return true
		}
		b.probeOK++
		if b.probeOK >= max(1, c.HalfOpenProbes) {
			b.state, b.ejections, b.consec = brClosed, 0, 0
			b.winStart, b.winCalls, b.winErrs = now, 0, 0
		}
		return false
	}
	if failed {
		b.consec++
	} else {
		b.consec = 0
	}
	if c.ErrorRatio > 0 {
		w := int64(c.Window)
		if w <= 0 {
			w = 10e9
		}
		if now-b.winStart >= w {
			b.winStart, b.winCalls, b.winErrs = now, 0, 0
		}
		b.winCalls++
		if failed {
			b.winErrs++
		}
	}
	minReq := c.MinRequests
	if minReq <= 0 {
		minReq = 5
	}
	if c.ConsecutiveErrors > 0 && b.consec >= c.ConsecutiveErrors ||
		c.ErrorRatio > 0 && b.winCalls >= minReq && float64(b.winErrs) >= c.ErrorRatio*float64(b.winCalls) {
		b.eject(now, c)
		return true
	}
	return false
}

func (b *breaker) eject(now int64, c *CircuitBreaker) {
	b.ejections++
	base := int64(c.OpenTime)
	if base <= 0 {
		base = 30e9
	}
	mx := int64(c.MaxOpenTime)
	if mx <= 0 {
		mx = 300e9
	}
	b.state = brOpen
	b.openUntil = now + min(mx, base*b.ejections)
	b.consec = 0
	b.winStart, b.winCalls, b.winErrs = now, 0, 0
}
