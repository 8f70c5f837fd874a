package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/sim"
	"sigs.k8s.io/yaml"
)

// Config is the mesh: every service, its own work and its downstream calls
// with their resilience policy.
type Config struct {
	Services map[string]Service `json:"services"`
	// Paths is the load's mix at the ingress: path -> weight. Empty: "/".
	Paths map[string]float64 `json:"paths"`
}

// Service is one service process.
type Service struct {
	WorkMs      float64 `json:"workMs"`      // own time per request, mean (uniform in [0.5, 1.5] × mean)
	ErrorRate   float64 `json:"errorRate"`   // own failures (500), in [0, 1]
	Concurrency int     `json:"concurrency"` // requests in service at once; 0: no limit
	QueueLength int     `json:"queueLength"` // requests waiting for a slot; beyond: 503 at once
	Calls       []Call  `json:"calls"`       // made one after the other, in this order
}

// Call is one downstream call a service makes for every request it serves.
type Call struct {
	To            string   `json:"to"`
	On            []string `json:"for"`           // only for requests to these paths; empty: every request
	Timeout       Duration `json:"timeout"`       // the whole call, retries included; 0: none
	PerTryTimeout Duration `json:"perTryTimeout"` // 0: none
	Retries       int      `json:"retries"`       // retries after the first try
	Backoff       Duration `json:"backoff"`       // base; doubles per retry up to 10 × base, full jitter
	Budget        float64  `json:"budget"`        // retries in flight ≤ max(3, budget% × calls in flight); 0: no budget
	Fallback      bool     `json:"fallback"`      // a call that fails for good is answered by a default, as a success
	FallbackMs    float64  `json:"fallbackMs"`    // the fallback's latency
}

// Duration is a time.Duration written as a string ("250ms"), as in replay's mesh.
type Duration = sim.Duration

func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := &Config{}
	if err := yaml.UnmarshalStrict(data, c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(c.Services) == 0 {
		return nil, fmt.Errorf("%s: no services", path)
	}
	for _, name := range c.names() {
		s := c.Services[name]
		if s.ErrorRate < 0 || s.ErrorRate > 1 {
			return nil, fmt.Errorf("%s: services.%s.errorRate: %v not in [0, 1]", path, name, s.ErrorRate)
		}
		for i, call := range s.Calls {
			if _, ok := c.Services[call.To]; !ok {
				return nil, fmt.Errorf("%s: services.%s.calls[%d].to: no service %q", path, name, i, call.To)
			}
			if call.Retries < 0 || call.Budget < 0 || call.Budget > 100 {
				return nil, fmt.Errorf("%s: services.%s.calls[%d]: retries must be ≥ 0 and budget in [0, 100]", path, name, i)
			}
		}
	}
	for p, w := range c.Paths {
		if !strings.HasPrefix(p, "/") || w <= 0 {
			return nil, fmt.Errorf("%s: paths.%s: want a path starting with / and a weight > 0", path, p)
		}
	}
	return c, nil
}

// pathMix is the load's mix, sorted by path, with cumulative weights.
func (c *Config) pathMix() (paths []string, cum []float64) {
	for p := range c.Paths {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	total := 0.0
	for _, p := range paths {
		total += c.Paths[p]
		cum = append(cum, total)
	}
	if len(paths) == 0 {
		return []string{"/"}, []float64{1}
	}
	return paths, cum
}

func (c *Config) names() []string {
	names := make([]string, 0, len(c.Services))
	for n := range c.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ingress is the one service no other service calls.
func (c *Config) ingress() (string, error) {
	called := map[string]bool{}
	for _, s := range c.Services {
		for _, call := range s.Calls {
			called[call.To] = true
		}
	}
	var roots []string
	for _, n := range c.names() {
		if !called[n] {
			roots = append(roots, n)
		}
	}
	if len(roots) != 1 {
		return "", fmt.Errorf("the mesh needs exactly one service that nobody calls, has %v", roots)
	}
	return roots[0], nil
}

// replayMesh writes the same policies as `chaosgen replay --mesh` reads them
// (docs/replay.md, "The mesh"), so a replay runs the mesh's timeouts, retries,
// budgets, fallbacks and capacities.
func (c *Config) replayMesh() string {
	var b strings.Builder
	b.WriteString("# written by meshsvc replay-mesh from the mesh's config\n")
	b.WriteString("defaults:\n  timeout: 0s\n  retries: {attempts: 0}\n  validateResponses: true\n")
	b.WriteString("services:\n")
	for _, n := range c.names() {
		s := c.Services[n]
		if s.Concurrency > 0 {
			fmt.Fprintf(&b, "  %s: {capacity: {concurrency: %d, queueLength: %d}}\n", n, s.Concurrency, s.QueueLength)
		}
	}
	b.WriteString("edges:\n")
	for _, n := range c.names() {
		for _, call := range c.Services[n].Calls {
			fmt.Fprintf(&b, "  - caller: %s\n    callee: %s\n    timeout: %s\n", n, call.To, time.Duration(call.Timeout))
			fmt.Fprintf(&b, "    retries: {attempts: %d, perTryTimeout: %s, backoff: {base: %s, max: %s, jitter: 1}, retryOn: [5xx, reset]",
				call.Retries, time.Duration(call.PerTryTimeout), backoffBase(call), 10*backoffBase(call))
			if call.Budget > 0 {
				fmt.Fprintf(&b, ", budget: {percent: %g, minConcurrency: %d}", call.Budget, minRetryConcurrency)
			}
			b.WriteString("}\n")
			if call.Fallback {
				fmt.Fprintf(&b, "    fallback: {latency: %s, success: true}\n", time.Duration(call.FallbackMs*float64(time.Millisecond)))
			}
		}
	}
	return b.String()
}

func backoffBase(c Call) time.Duration {
	if c.Backoff > 0 {
		return time.Duration(c.Backoff)
	}
	return time.Millisecond
}

const minRetryConcurrency = 3
