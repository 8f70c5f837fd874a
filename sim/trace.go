package sim

import (
	"slices"
)

// rspan is one recorded attempt of a call.
type rspan struct {
	spanID     string
	parentID   string
	route      int32 // index into the simulator's route table
	depth      int32
	retry      int32
	start, dur int64
	status     int32
	err        bool
	timedOut   bool
	fallback   bool
	ownFail    bool // failed by itself, not because a child call failed
	stepLo     int32
	stepHi     int32
	detLo      int32 // kids[detLo:detHi] are detached calls, started kidOff
	detHi      int32 // after the span starts; the span does not wait for them
	execs      int32 // times replayed so far, for unique span ids
}

// rcall is one logical call: its first attempt and the recorded retries.
type rcall struct {
	attLo, attHi int32 // attempts[attLo:attHi] index spans
	start, end   int64 // first attempt start, last attempt end
}

// step is a stretch of the callee's own time followed by a group of child
// calls that run in parallel (kids[kidLo:kidHi], each started kidOff after
// the group starts).
type step struct {
	gap          int64
	kidLo, kidHi int32
}

// rtrace is one recorded trace, arranged for replay.
type rtrace struct {
	id       string
	spans    []rspan
	calls    []rcall
	attempts []int32
	steps    []step
	kids     []int32
	kidOff   []int64
	roots    []int32 // root logical calls
	arrival  int64   // earliest root start (recorded)
	sole     int32   // the one profile inject.Decide fires on in this trace; -1 none or several
	refs     int32
}

// build arranges the spans of one trace (already converted to rspans) for
// replay. It returns the number of spans left out because they do not hang
// from a root (orphans and cycles).
func (t *rtrace) build() (orphans int) {
	n := len(t.spans)
	byID := make(map[string]int32, n)
	for i := range t.spans {
		byID[t.spans[i].spanID] = int32(i)
	}
	// children per span, in (start, span id) order
	childStart := make([]int32, n+1)
	parent := make([]int32, n)
	for i := range t.spans {
		parent[i] = -1
		if p, ok := byID[t.spans[i].parentID]; ok && t.spans[i].parentID != "" && p != int32(i) {
			parent[i] = p
			childStart[p+1]++
		}
	}
	for i := 1; i <= n; i++ {
		childStart[i] += childStart[i-1]
	}
	child := make([]int32, n)
	fill := slices.Clone(childStart[:n])
	var rootSpans []int32
	for i := range t.spans {
		if p := parent[i]; p >= 0 {
			child[fill[p]] = int32(i)
			fill[p]++
		} else if t.spans[i].parentID == "" {
			rootSpans = append(rootSpans, int32(i))
		}
	}
	less := func(a, b int32) int {
		sa, sb := &t.spans[a], &t.spans[b]
		switch {
		case sa.start != sb.start:
			return cmpInt(sa.start, sb.start)
		case sa.retry != sb.retry:
			return cmpInt(int64(sa.retry), int64(sb.retry))
		}
		return cmpStr(sa.spanID, sb.spanID)
	}
	for p := 0; p < n; p++ {
		slices.SortFunc(child[childStart[p]:childStart[p+1]], less)
	}
	slices.SortFunc(rootSpans, less)

	visited := make([]bool, n)
	reached := 0
	// groupCalls turns sibling spans into logical calls (a retry joins the
	// latest call of the same route) and returns their indexes.
	groupCalls := func(sibs []int32) []int32 {
		var groups [][]int32
		for _, s := range sibs {
			sp := &t.spans[s]
			joined := false
			if sp.retry > 0 {
				for k := len(groups) - 1; k >= 0; k-- {
					if t.spans[groups[k][0]].route == sp.route {
						groups[k] = append(groups[k], s)
						joined = true
						break
					}
				}
			}
			if !joined {
				groups = append(groups, []int32{s})
			}
		}
		out := make([]int32, len(groups))
		for k, g := range groups {
			c := rcall{attLo: int32(len(t.attempts)), start: t.spans[g[0]].start}
			for _, s := range g {
				c.end = max(c.end, t.spans[s].start+t.spans[s].dur)
			}
			t.attempts = append(t.attempts, g...)
			c.attHi = int32(len(t.attempts))
			out[k] = int32(len(t.calls))
			t.calls = append(t.calls, c)
		}
		return out
	}
	var visit func(s int32)
	visit = func(s int32) {
		visited[s] = true
		reached++
		sp := &t.spans[s]
		calls := groupCalls(child[childStart[s]:childStart[s+1]])
		slices.SortStableFunc(calls, func(a, b int32) int { return cmpInt(t.calls[a].start, t.calls[b].start) })
		end := sp.start + sp.dur
		// Calls that end after the span did: a failed span gave up waiting
		// for them (a timeout the recording did not mark); a successful one
		// answered without waiting (they are detached, as are calls made
		// after it answered).
		all := calls
		calls = nil
		var detached []int32
		for _, c := range all {
			if t.calls[c].end <= end {
				calls = append(calls, c)
				continue
			}
			if sp.err {
				sp.timedOut = true
				calls = append(calls, c)
				continue
			}
			detached = append(detached, c)
		}
		sp.detLo = int32(len(t.kids))
		for _, c := range detached {
			t.kids = append(t.kids, c)
			t.kidOff = append(t.kidOff, max(0, t.calls[c].start-sp.start))
		}
		sp.detHi = int32(len(t.kids))
		// groups of overlapping calls run in parallel
		sp.stepLo = int32(len(t.steps))
		cursor := sp.start
		childFailed := false
		for i := 0; i < len(calls); {
			gStart := max(t.calls[calls[i]].start, cursor)
			gEnd := t.calls[calls[i]].end
			j := i + 1
			for ; j < len(calls) && t.calls[calls[j]].start < gEnd; j++ {
				gEnd = max(gEnd, t.calls[calls[j]].end)
			}
			st := step{gap: max(0, gStart-cursor), kidLo: int32(len(t.kids))}
			for _, c := range calls[i:j] {
				t.kids = append(t.kids, c)
				t.kidOff = append(t.kidOff, max(0, t.calls[c].start-gStart))
			}
			st.kidHi = int32(len(t.kids))
			t.steps = append(t.steps, st)
			cursor = max(cursor, gEnd)
			i = j
		}
		t.steps = append(t.steps, step{gap: max(0, end-cursor), kidLo: int32(len(t.kids)), kidHi: int32(len(t.kids))})
		sp.stepHi = int32(len(t.steps))
		for _, c := range calls {
			rc := &t.calls[c]
			last := &t.spans[t.attempts[rc.attHi-1]]
			if last.err {
				childFailed = true
			}
		}
		sp.ownFail = sp.err && !sp.timedOut && !childFailed
		for _, c := range all {
			rc := t.calls[c]
			for _, a := range t.attempts[rc.attLo:rc.attHi] {
				if !visited[a] {
					visit(a)
				}
			}
		}
	}
	t.roots = groupCalls(rootSpans)
	for _, c := range t.roots {
		rc := t.calls[c]
		for _, a := range t.attempts[rc.attLo:rc.attHi] {
			visit(a)
		}
	}
	t.arrival = 0
	for i, c := range t.roots {
		if i == 0 || t.calls[c].start < t.arrival {
			t.arrival = t.calls[c].start
		}
	}
	return n - reached
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
