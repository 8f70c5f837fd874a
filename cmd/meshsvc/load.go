package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// rateAt is the daily shape compressed into day: quiet at the start and
// the end ("night"), the peak in the middle, peak/rps between 0.3 and 1.
func rateAt(rps float64, t, day time.Duration) float64 {
	x := math.Sin(math.Pi * float64(t) / float64(day))
	return rps * (0.3 + 0.7*x*x)
}

// load sends root requests (a new trace each, no caller, a path drawn from
// the mix) to target for one
// compressed day, with Poisson arrivals at rateAt; it waits for the last
// answers and returns how many were sent and how many failed.
func load(target string, paths []string, cum []float64, rps float64, day time.Duration, seed uint64) (sent, failed int, err error) {
	rnd := rand.New(rand.NewPCG(seed, 0x6c6f6164))
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	start := time.Now()
	next := time.Duration(0)
	for {
		next += time.Duration(rnd.ExpFloat64() / rateAt(rps, next, day) * float64(time.Second))
		if next >= day {
			break
		}
		time.Sleep(time.Until(start.Add(next)))
		u := rnd.Float64() * cum[len(cum)-1]
		path := paths[sort.SearchFloat64s(cum, u)]
		tp := fmt.Sprintf("00-%016x%016x-%016x-01", rnd.Uint64(), rnd.Uint64(), rnd.Uint64())
		sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, strings.TrimSuffix(target, "/")+path, nil)
			req.Header.Set("Traceparent", tp)
			resp, err := client.Do(req)
			bad := err != nil
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				bad = resp.StatusCode >= 500
			}
			if bad {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return sent, failed, nil
}
