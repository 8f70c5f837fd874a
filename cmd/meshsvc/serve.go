package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// server is one service process: it serves every path the same way (its own
// work, then its calls in order) and answers {"ok":true}.
type server struct {
	name   string
	svc    Service
	addrs  map[string]string // downstream service -> base URL (its sidecar)
	client *http.Client
	slots  chan struct{} // capacity; nil: no limit
	queued atomic.Int64
	edges  []*edgeState // per call, same index as svc.Calls

	mu  sync.Mutex
	rnd *rand.Rand
}

type edgeState struct {
	active  atomic.Int64 // calls in flight
	retries atomic.Int64 // retries in flight
}

func newServer(name string, svc Service, addrs map[string]string, seed uint64) *server {
	s := &server{name: name, svc: svc, addrs: addrs, rnd: rand.New(rand.NewPCG(seed, fnv64(name)))}
	s.client = &http.Client{Transport: &http.Transport{
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
	}}
	if svc.Concurrency > 0 {
		s.slots = make(chan struct{}, svc.Concurrency)
	}
	for range svc.Calls {
		s.edges = append(s.edges, &edgeState{})
	}
	return s
}

func (s *server) float() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rnd.Float64()
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
		default:
			if s.queued.Add(1) > int64(s.svc.QueueLength) {
				s.queued.Add(-1)
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
				return
			}
			s.slots <- struct{}{}
			s.queued.Add(-1)
		}
		defer func() { <-s.slots }()
	}
	// the trace context is passed on as received, as an application that
	// records no spans of its own does: the sidecar in front of this service
	// made its record the parent, so the records of this request's calls
	// are that record's children
	traceID, parent := traceContext(r.Header.Get("Traceparent"))

	work := s.svc.WorkMs * (0.5 + s.float())
	time.Sleep(time.Duration(work * float64(time.Millisecond)))
	if s.svc.ErrorRate > 0 && s.float() < s.svc.ErrorRate {
		http.Error(w, "own failure", http.StatusInternalServerError)
		return
	}
	for i, call := range s.svc.Calls {
		if len(call.On) > 0 && !slices.Contains(call.On, r.URL.Path) {
			continue
		}
		if err := s.call(r.Context(), i, call, traceID, parent); err != nil {
			if call.Fallback {
				time.Sleep(time.Duration(call.FallbackMs * float64(time.Millisecond)))
				continue
			}
			status := http.StatusBadGateway
			if errors.Is(err, context.DeadlineExceeded) {
				status = http.StatusGatewayTimeout
			}
			http.Error(w, fmt.Sprintf("%s: %v", call.To, err), status)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

var errCorrupt = errors.New("invalid response body")

// call makes one downstream call with its policy: route timeout, tries with
// per-try timeouts, exponential backoff with full jitter, the retry budget.
func (s *server) call(ctx context.Context, i int, c Call, traceID, parent string) error {
	e := s.edges[i]
	e.active.Add(1)
	defer e.active.Add(-1)
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(c.Timeout))
		defer cancel()
	}
	var err error
	for try := 0; ; try++ {
		err = s.try(ctx, c, traceID, parent)
		if err == nil || errors.Is(err, errCorrupt) || ctx.Err() != nil || try >= c.Retries {
			break
		}
		if c.Budget > 0 && float64(e.retries.Load()+1) > max(minRetryConcurrency, c.Budget/100*float64(e.active.Load())) {
			break
		}
		e.retries.Add(1)
		backoff := min(10*backoffBase(c), backoffBase(c)<<try)
		t := time.NewTimer(time.Duration(float64(backoff) * s.float()))
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		e.retries.Add(-1)
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (s *server) try(ctx context.Context, c Call, traceID, parent string) error {
	if c.PerTryTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(c.PerTryTimeout))
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.addrs[c.To]+"/"+c.To, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Traceparent", "00-"+traceID+"-"+parent+"-01")
	req.Header.Set("X-Chaosgen-Caller", s.name)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 500 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var v struct{ OK bool }
	if json.Unmarshal(body, &v) != nil || !v.OK {
		return errCorrupt
	}
	return nil
}

// traceContext reads a W3C traceparent; a request without one starts a trace.
func traceContext(h string) (traceID, parent string) {
	if len(h) == 55 && h[2] == '-' && h[35] == '-' && h[52] == '-' {
		return h[3:35], h[36:52]
	}
	return fmt.Sprintf("%016x%016x", rand.Uint64(), rand.Uint64()), fmt.Sprintf("%016x", rand.Uint64())
}

func fnv64(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

func serve(cfg *Config, name, listen string, addrs map[string]string, seed uint64) error {
	svc, ok := cfg.Services[name]
	if !ok {
		return fmt.Errorf("no service %q in the config", name)
	}
	for _, c := range svc.Calls {
		if addrs[c.To] == "" {
			return fmt.Errorf("service %s calls %s: no --downstream %s=URL", name, c.To, c.To)
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newServer(name, svc, addrs, seed), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	slog.Info("serving", "service", name, "listen", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
