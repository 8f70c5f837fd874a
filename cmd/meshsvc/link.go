package main

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/chaosgen/chaosgen/ingest"
)

// link joins the sidecars' records into one file of whole call trees. Each
// sidecar sends a request on as a child of its own record (traceparent's
// parent id is the record's span id) and the mesh's services pass the
// trace context on as they received it, so a record's parent id is already
// its caller's record: link keeps it when that record is in the same trace,
// clears it on root records (no caller: their parent is the load
// generator's span, which nothing records) and counts the rest as orphans.
// What is left for link: depth and stack follow the tree, and spans leave
// grouped by trace (analyze's trace pass and replay read a trace's spans
// together; every sidecar writes its own files), traces in the order of
// their first start, a trace's spans by start.
func link(spans []ingest.Span) (linked, orphans int) {
	type key struct{ trace, id string }
	byID := map[key]int{}
	for i := range spans {
		s := &spans[i]
		if _, dup := byID[key{s.TraceID, s.SpanID}]; !dup {
			byID[key{s.TraceID, s.SpanID}] = i
		}
	}
	parentOf := make([]int, len(spans))
	for i := range spans {
		s := &spans[i]
		parentOf[i] = -1
		if s.Caller == "" {
			continue
		}
		if j, ok := byID[key{s.TraceID, s.ParentSpanID}]; ok && j != i {
			parentOf[i] = j
		}
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
