package h1

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BusyPoll is the proxy's optional busy polling (--busy-poll): a read that
// finds its socket empty keeps asking the kernel for up to Budget before it
// parks in the runtime's netpoller.
//
// Why: on a mostly idle proxy each request waits twice (for the upstream's
// answer and for the client's next request), and each wait puts the thread
// and, on a virtual machine, the virtual CPU to sleep; waking it again costs
// tens of microseconds, far more than the proxy's own work. Polling for a
// short while keeps the CPU awake when the answer is about to come (it is,
// for an upstream on the same host answering in microseconds). The price
// is CPU time: up to Budget per wait. So it is off by default, and when on
// it polls only where that is cheap:
//
//   - only one connection polls at a time, and only while at most one
//     request is in flight (its own, waiting for the upstream, or none,
//     waiting for a client's next request): under load, reads find data or
//     other goroutines need the CPU, and nothing polls (the net/http
//     fallback's requests, h2c and the like, are not counted; their client
//     connections never poll);
//   - never with GOMAXPROCS 1: the poller would hold the only P, and the
//     runtime does not look for other sockets' data while it runs (measured:
//     0.40x the requests/s at 32 connections);
//   - a connection whose last poll ran out of budget (a slow upstream, an
//     idle client) does not poll for its next pollBackoff waits, like the
//     kernel's adaptive halt polling.
type BusyPoll struct {
	budget   time.Duration
	inflight atomic.Int32 // requests h1conn is serving
	spinning atomic.Int32 // 1 while a read polls
	hits     atomic.Int64 // polls that got data (or an error)
	misses   atomic.Int64 // polls that ran out of budget or gave way
}

// pollBackoff is how many waits a connection skips polling after a poll
// that ran out of budget.
const pollBackoff = 8

// NewBusyPoll returns the policy, or nil (no polling) for a budget <= 0.
func NewBusyPoll(budget time.Duration) *BusyPoll {
	if budget <= 0 {
		return nil
	}
	return &BusyPoll{budget: budget}
}

// acquire reports whether the caller may poll now; if so it must call
// release when done.
func (bp *BusyPoll) acquire() bool {
	if bp.inflight.Load() > 1 {
		return false // other requests are in flight: leave them the CPU
	}
	if runtime.GOMAXPROCS(0) < 2 { // read each time: it can change at run time
		return false
	}
	return bp.spinning.CompareAndSwap(0, 1)
}

func (bp *BusyPoll) release() { bp.spinning.Store(0) }

// Collectors are the policy's Prometheus counters.
func (bp *BusyPoll) Collectors() []prometheus.Collector {
	const name, help = "chaosgen_inject_busy_polls_total", "Reads that polled an empty socket (--busy-poll), by result: data (the poll got data) or gave_up (out of budget, or another request came in)."
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"result": "data"}},
			func() float64 { return float64(bp.hits.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{"result": "gave_up"}},
			func() float64 { return float64(bp.misses.Load()) }),
	}
}

// Stats returns the polls that got data (hits) and those that gave up
// (misses), the requests in flight and whether a read polls now (1).
func (bp *BusyPoll) Stats() (hits, misses int64, inflight, spinning int32) {
	return bp.hits.Load(), bp.misses.Load(), bp.inflight.Load(), bp.spinning.Load()
}
