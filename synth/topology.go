package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// serviceNames are the names of the first services; more get numbered names.
var serviceNames = []string{
	"frontend", "api-gateway", "auth", "users", "cart", "checkout", "catalog",
	"search", "recommendations", "pricing", "inventory", "payment", "orders",
	"shipping", "currency", "reviews", "ratings", "ads", "sessions", "fraud",
	"ledger", "notifications", "email", "geo", "media", "tax", "billing",
	"audit", "config", "feature-flags",
}

type service struct {
	name   string
	layer  int
	grpc   bool
	ops    []string
	median float64 // median own time, ms
	sigma  float64 // lognormal sigma of own time
	calls  []*edge // outgoing calls, in order
	// capacity > 0 marks a capacity-limited service: its own time grows
	// steeply once the traffic level exceeds capacity (a fraction of peak).
	capacity float64
}

// edge is a caller→callee call site.
type edge struct {
	id       int
	from, to int // service indexes; from == -1 for ingress
	op       string
	prob     float64 // probability the call is made
	group    int     // calls with the same group run in parallel
	errRate  float64
	netMs    float64 // network time, ms
	timeout  int64   // ns; 0 = none
	retries  int     // max retries on failure
	slowdown float64 // latency factor applied by a planted regression (1 = none)
	// planted incident windows (unix nano), zero when none
	regressFrom        int64
	burstFrom, burstTo int64
	burstRate          float64
	stormFrom, stormTo int64
	stormRate          float64
}

type topology struct {
	services []*service
	edges    []*edge
	roots    []*edge // ingress edges, one per entry operation
	rootW    []float64
}

// buildTopology makes a layered service DAG behind an ingress: entry services
// in layer 0, leaves in the deepest layers, each service calling one to three
// services in deeper layers.
func buildTopology(r *rand.Rand, n int) (*topology, error) {
	if n < 3 {
		return nil, fmt.Errorf("--services must be at least 3, got %d", n)
	}
	t := &topology{}
	layers := min(6, max(3, int(math.Ceil(math.Log2(float64(n)))+1)))
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%02d", i)
		if i < len(serviceNames) {
			name = serviceNames[i]
		}
		s := &service{name: name, grpc: i >= 2 && r.Float64() < 0.5}
		// two entry services, the rest spread over deeper layers
		switch {
		case i < 2:
			s.layer = 0
		default:
			s.layer = 1 + (i-2)*(layers-1)/max(1, n-2)
		}
		s.median = 0.5 + r.Float64()*r.Float64()*12
		s.sigma = 0.25 + r.Float64()*0.35
		nops := 1 + r.IntN(3)
		for k := 0; k < nops; k++ {
			if s.grpc {
				s.ops = append(s.ops, fmt.Sprintf("%s.v1.%s/%s", pkgName(name), svcName(name), []string{"Get", "List", "Update"}[k]))
			} else {
				s.ops = append(s.ops, []string{"GET /", "GET /items/{id}", "POST /items"}[k])
			}
		}
		t.services = append(t.services, s)
	}
	byLayer := map[int][]int{}
	for i, s := range t.services {
		byLayer[s.layer] = append(byLayer[s.layer], i)
	}
	// calls: each non-leaf service calls 1-3 services in the next layers;
	// every service below layer 0 gets at least one caller.
	called := make([]bool, n)
	for i, s := range t.services {
		var deeper []int
		for l := s.layer + 1; l <= s.layer+2 && l < layers; l++ {
			deeper = append(deeper, byLayer[l]...)
		}
		if len(deeper) == 0 {
			continue
		}
		k := 1 + r.IntN(min(2, len(deeper)))
		if s.layer == 0 {
			k = min(len(deeper), 2)
		}
		perm := r.Perm(len(deeper))
		for j := 0; j < k; j++ {
			to := deeper[perm[j]]
			t.addEdge(r, i, to)
			called[to] = true
		}
	}
	for i, s := range t.services {
		if s.layer == 0 || called[i] {
			continue
		}
		var above []int
		for l := 0; l < s.layer; l++ {
			above = append(above, byLayer[l]...)
		}
		t.addEdge(r, above[r.IntN(len(above))], i)
	}
	// ingress edges: every operation of the entry services
	for i, s := range t.services {
		if s.layer != 0 {
			continue
		}
		for _, op := range s.ops {
			e := &edge{id: len(t.edges), from: -1, to: i, op: op, prob: 1, errRate: 0.0005, netMs: 0.3, slowdown: 1}
			t.edges = append(t.edges, e)
			t.roots = append(t.roots, e)
			t.rootW = append(t.rootW, 0.5+r.Float64())
		}
	}
	var sum float64
	for _, w := range t.rootW {
		sum += w
	}
	for i := range t.rootW {
		t.rootW[i] /= sum
	}
	return t, nil
}

func (t *topology) addEdge(r *rand.Rand, from, to int) {
	s := t.services[from]
	callee := t.services[to]
	e := &edge{
		id:       len(t.edges),
		from:     from,
		to:       to,
		op:       callee.ops[r.IntN(len(callee.ops))],
		prob:     0.3 + 0.6*r.Float64(),
		group:    r.IntN(2) + len(s.calls)/2,
		errRate:  math.Pow(10, -3.5+2*r.Float64()), // 0.03% .. 3%
		netMs:    0.2 + r.Float64()*0.8,
		slowdown: 1,
	}
	if r.Float64() < 0.2 {
		e.prob = 1
	}
	if r.Float64() < 0.5 {
		e.timeout = int64((200 + r.IntN(800))) * 1e6
	}
	if r.Float64() < 0.3 {
		e.retries = 1 + r.IntN(2)
	}
	s.calls = append(s.calls, e)
	t.edges = append(t.edges, e)
}

func pkgName(s string) string {
	out := []byte{}
	for i := 0; i < len(s); i++ {
		if s[i] != '-' {
			out = append(out, s[i])
		}
	}
	return string(out)
}

func svcName(s string) string {
	out := []byte{}
	up := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		out = append(out, c)
	}
	return string(out) + "Service"
}
