// Package ordered runs independent jobs a few at a time and returns their
// results in the jobs' order, with the error of the first job in that
// order that failed: so what a caller reports does not depend on which
// job happened to fail first in time. Jobs after a failed one that have
// not started are not started.
//
// It is for work that waits (opening objects in a bucket, reading partial
// files), where running jobs at once hides the round trips.
package ordered

import (
	"sync"
	"sync/atomic"
)

// Do runs job(0) … job(n-1), up to workers at once (at least one), and
// returns their results in order. On a failure it returns the results it
// has (the caller releases them: those of jobs after the failed one may be
// set or not) and the error of the first failed job in order.
func Do[T any](n, workers int, job func(i int) (T, error)) ([]T, error) {
	out := make([]T, n)
	errs := make([]error, n)
	var next atomic.Int64
	var failed atomic.Int64 // the first failed job found so far
	failed.Store(int64(n))
	var wg sync.WaitGroup
	for range min(max(workers, 1), n) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || i > failed.Load() {
					return
				}
				if out[i], errs[i] = job(int(i)); errs[i] == nil {
					continue
				}
				for {
					if f := failed.Load(); i >= f || failed.CompareAndSwap(f, i) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if f := failed.Load(); f < int64(n) {
		return out, errs[f]
	}
	return out, nil
}
