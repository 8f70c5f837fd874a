package main

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/chaosgen/chaosgen/ingest"
)

// link joins the sidecars' records into call trees. A sidecar records each
// request with a span id of its own and, as parent, the span id its caller
// sent in traceparent; the mesh's services send childID(the parent id they
// received, their name), so a record's parent is the record of the request
// it was made for: same trace, callee = its caller, childID(parent, callee)
// = its parent id; among retried tries of that request, the latest that
// started before it. Root records (no caller) get no parent. Depth and stack
// follow the tree. Spans leave grouped by trace, traces in the order
// of their first start, a trace's spans by start.
func link(spans []ingest.Span) (linked, orphans int) {
	type key struct{ trace, id, service string }
	byKey := map[key][]int{}
	for i := range spans {
		s := &spans[i]
		k := key{s.TraceID, childID(s.ParentSpanID, s.Callee), s.Callee}
		byKey[k] = append(byKey[k], i)
	}
	parentOf := make([]int, len(spans))
	for i := range spans {
		s := &spans[i]
		parentOf[i] = -1
		if s.Caller == "" {
			continue
		}
		best := -1
		for _, j := range byKey[key{s.TraceID, s.ParentSpanID, s.Caller}] {
			if spans[j].StartUnixNano <= s.StartUnixNano && (best < 0 || spans[j].StartUnixNano > spans[best].StartUnixNano) {
				best = j
			}
		}
		parentOf[i] = best
	}
	depth := make([]int32, len(spans))
	stack := make([][]string, len(spans))
	var resolve func(i, guard int)
	resolve = func(i, guard int) {
		if stack[i] != nil {
			return
		}
		p := parentOf[i]
		if p < 0 || guard > 64 {
			depth[i] = 0
			if spans[i].Caller != "" {
				stack[i] = []string{spans[i].Caller, spans[i].Callee}
				depth[i] = 1
			} else {
				stack[i] = []string{spans[i].Callee}
			}
			return
		}
		resolve(p, guard+1)
		depth[i] = depth[p] + 1
		stack[i] = append(slices.Clone(stack[p]), spans[i].Callee)
	}
	for i := range spans {
		resolve(i, 0)
	}
	parentIDs := make([]string, len(spans))
	for i := range spans {
		switch {
		case parentOf[i] >= 0:
			parentIDs[i] = spans[parentOf[i]].SpanID
			linked++
		case spans[i].Caller == "":
			parentIDs[i] = ""
		default:
			parentIDs[i] = spans[i].ParentSpanID
			orphans++
		}
	}
	for i := range spans {
		spans[i].ParentSpanID = parentIDs[i]
		spans[i].Depth = depth[i]
		spans[i].Stack = stack[i]
	}
	// each trace's spans together (analyze and replay read a trace best so),
	// traces by their first start
	first := map[string]int64{}
	for i := range spans {
		s := &spans[i]
		if f, ok := first[s.TraceID]; !ok || s.StartUnixNano < f {
			first[s.TraceID] = s.StartUnixNano
		}
	}
	sort.SliceStable(spans, func(a, b int) bool {
		x, y := &spans[a], &spans[b]
		if fx, fy := first[x.TraceID], first[y.TraceID]; fx != fy {
			return fx < fy
		}
		if x.TraceID != y.TraceID {
			return x.TraceID < y.TraceID
		}
		if x.StartUnixNano != y.StartUnixNano {
			return x.StartUnixNano < y.StartUnixNano
		}
		return x.SpanID < y.SpanID
	})
	return linked, orphans
}

// rootStats is what the mesh's clients saw: success rate and p99 of the
// root records (no caller).
type rootStats struct {
	Requests int
	Success  float64
	P99Ms    float64
	Injected int // records of any depth with a fault applied
}

func rootStatsOf(spans []ingest.Span) rootStats {
	var st rootStats
	var durs []float64
	ok := 0
	for i := range spans {
		s := &spans[i]
		if s.Injected {
			st.Injected++
		}
		if s.Caller != "" {
			continue
		}
		st.Requests++
		if !s.Error {
			ok++
		}
		durs = append(durs, float64(s.DurationNano)/1e6)
	}
	if st.Requests == 0 {
		return st
	}
	st.Success = float64(ok) / float64(st.Requests)
	sort.Float64s(durs)
	st.P99Ms = durs[int(math.Ceil(0.99*float64(len(durs))))-1]
	return st
}

func (st rootStats) String() string {
	return fmt.Sprintf("requests=%d success=%.4f p99Ms=%.1f injected=%d", st.Requests, st.Success, st.P99Ms, st.Injected)
}
