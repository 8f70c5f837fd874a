package importer

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/chaosgen/chaosgen/ingest"
)

// kind is a span's role, as OTel's SpanKind.
type kind uint8

const (
	kindUnset kind = iota
	kindInternal
	kindServer
	kindClient
	kindProducer
	kindConsumer
)

// caller reports whether the span is the calling side of a call.
func (k kind) caller() bool { return k == kindClient || k == kindProducer }

// rawSpan is a span as a parser read it, before traces are resolved.
type rawSpan struct {
	traceID, spanID, parentID string
	service                   string // the service that recorded the span
	remote                    string // peer service: the callee of a client span, the caller of a server span
	name                      string // operation on the callee side
	kind                      kind
	inferClient               bool  // a kind-less parent of exactly one cross-service child is its client (csv)
	start                     int64 // unix ns; 0 when missing
	dur                       int64 // ns; noDuration when missing
	status                    int32
	err                       bool
	timedOut                  bool  // a timeout: error.type, gRPC DEADLINE_EXCEEDED, HTTP 504 or 408
	retry                     int32 // the attempt's resend count: 0 for the first attempt
}

// noDuration marks a span without a duration.
const noDuration = math.MinInt64

// node is a rawSpan placed in its trace tree.
type node struct {
	*rawSpan
	parent   int // -1 for roots
	orphan   bool
	children []int
	paired   bool // a client whose server half was found
	// context after this node: the service, the enclosing call and stack.
	svc    string
	callID string
	depth  int32
	stack  *frame
}

// frame is one service of a call stack, linked to the frames above it.
// Nodes share their parent's frames instead of copying them, so a trace's
// stacks take memory linear in its spans, however deep it is.
type frame struct {
	svc string
	up  *frame
	n   int32 // frames from the root to here, this one included
}

// push returns the stack f with svc below it.
func (f *frame) push(svc string) *frame {
	n := int32(1)
	if f != nil {
		n = f.n + 1
	}
	return &frame{svc: svc, up: f, n: n}
}

// MaxStack bounds the services a call's stack column lists: a deeper call
// keeps its depth and parent_span_id but no stack (the column is optional,
// and rebuilt from the parents when absent). Writing every stack of a chain
// of n calls would take n²/2 entries.
const MaxStack = 256

// strings lists the stack from the root, or nil past MaxStack.
func (f *frame) strings() []string {
	if f == nil || f.n > MaxStack {
		return nil
	}
	out := make([]string, f.n)
	for i := f.n - 1; f != nil; i, f = i-1, f.up {
		out[i] = f.svc
	}
	return out
}

// resolve turns one trace's spans into calls, sorted by start and id.
func resolve(spans []rawSpan, rep *Report) []ingest.Span {
	// A deterministic order first, so input order never reaches the output.
	slices.SortFunc(spans, compareRaw)
	nodes := make([]node, 0, len(spans))
	type key struct {
		id   string
		side bool
	}
	seen := map[key]bool{}
	for i := range spans {
		s := &spans[i]
		k := key{s.spanID, s.kind.caller()}
		if seen[k] {
			rep.add(IssueDuplicateSpanID, fmt.Sprintf("trace %s span %s", s.traceID, s.spanID))
			continue
		}
		seen[k] = true
		nodes = append(nodes, node{rawSpan: s, parent: -1})
	}
	// byID finds the span that owns an id's children: the server half of a
	// Zipkin-style shared id, else the only span with the id.
	byID := make(map[string]int, len(nodes))
	clientOf := map[string]int{}
	for i := range nodes {
		n := &nodes[i]
		if n.kind.caller() {
			clientOf[n.spanID] = i
			if _, ok := byID[n.spanID]; !ok {
				byID[n.spanID] = i
			}
		} else {
			byID[n.spanID] = i
		}
	}
	var roots []int
	for i := range nodes {
		n := &nodes[i]
		if c, ok := clientOf[n.spanID]; ok && c != i {
			n.parent = c // the server half of a shared id hangs under its client half
		} else if n.parentID != "" {
			if p, ok := byID[n.parentID]; ok && p != i {
				n.parent = p
			} else if ok || n.parentID == n.spanID {
				n.parent = i // its own parent: a cycle
			} else {
				n.orphan = true
				rep.add(IssueOrphan, fmt.Sprintf("trace %s span %s: parent %s not found", n.traceID, n.spanID, n.parentID))
			}
		}
		if n.parent == -1 {
			roots = append(roots, i)
		} else if n.parent != i {
			nodes[n.parent].children = append(nodes[n.parent].children, i)
		}
	}
	var calls []ingest.Span
	emit := func(n *node, caller, callee, id, parentID string, depth int32, stack *frame, timing *node, status *node) {
		switch {
		case callee == "":
			rep.add(IssueMissingService, fmt.Sprintf("trace %s span %s", n.traceID, n.spanID))
			return
		case timing.start == 0:
			rep.add(IssueMissingTimestamp, fmt.Sprintf("trace %s span %s", n.traceID, timing.spanID))
			return
		case timing.dur == noDuration:
			rep.add(IssueMissingDuration, fmt.Sprintf("trace %s span %s", n.traceID, timing.spanID))
			return
		case timing.dur < 0:
			rep.add(IssueNegativeDuration, fmt.Sprintf("trace %s span %s", n.traceID, timing.spanID))
			return
		}
		st := stack.strings()
		if st == nil && stack != nil {
			rep.add(IssueDeepStack, fmt.Sprintf("trace %s span %s at depth %d", n.traceID, id, depth))
		}
		code, failed, timedOut, retry := n.status, n.err, n.timedOut, n.retry
		if status != nil {
			failed = failed || status.err
			timedOut = timedOut || status.timedOut
			retry = max(retry, status.retry)
			if status.status != 0 {
				code = status.status
			}
		}
		calls = append(calls, ingest.Span{
			TraceID: n.traceID, SpanID: id, ParentSpanID: parentID,
			Caller: caller, Callee: callee, Operation: n.name,
			Depth: depth, Stack: st,
			StartUnixNano: timing.start, DurationNano: timing.dur,
			StatusCode: code, Error: failed, TimedOut: timedOut, RetryCount: retry,
		})
	}
	visited := 0
	stack := make([]int, 0, 64)
	for _, r := range roots {
		stack = append(stack[:0], r)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			visited++
			n := &nodes[i]
			var p *node
			if n.parent >= 0 {
				p = &nodes[n.parent]
				if n.start != 0 && p.start != 0 && n.start < p.start {
					rep.add(IssueClockSkew, fmt.Sprintf("trace %s span %s starts %dns before its parent %s", n.traceID, n.spanID, p.start-n.start, p.spanID))
				}
			}
			visit(nodes, n, p, emit, rep)
			slices.SortFunc(n.children, func(a, b int) int { return compareNode(&nodes[a], &nodes[b]) })
			for j := len(n.children) - 1; j >= 0; j-- {
				stack = append(stack, n.children[j])
			}
		}
	}
	if lost := len(nodes) - visited; lost > 0 {
		rep.Counts[IssueCycle] += int64(lost)
		if _, ok := rep.Examples[IssueCycle]; !ok {
			rep.Examples[IssueCycle] = fmt.Sprintf("trace %s: %d spans on or under a parent cycle", nodes[0].traceID, lost)
		}
	}
	slices.SortFunc(calls, func(a, b ingest.Span) int {
		return cmp.Or(cmp.Compare(a.StartUnixNano, b.StartUnixNano), cmp.Compare(a.Depth, b.Depth),
			cmp.Compare(a.SpanID, b.SpanID), cmp.Compare(a.Callee, b.Callee))
	})
	return calls
}

type emitFunc func(n *node, caller, callee, id, parentID string, depth int32, stack *frame, timing *node, status *node)

// visit sets n's context from its parent's p (nil at a root) and emits the
// call n stands for, if any.
func visit(nodes []node, n, p *node, emit emitFunc, rep *Report) {
	if n.kind.caller() {
		// The calling side: its service is the caller. A root client span
		// of an unnamed service is an ingress, as a root server span is.
		switch {
		case p == nil:
			n.svc, n.callID, n.depth, n.stack = n.service, "", 0, (*frame)(nil).push(n.service)
			if n.service == "" {
				n.depth, n.stack = -1, nil
			}
			if n.orphan {
				n.callID = n.parentID
			}
		case n.service == "" || n.service == p.svc:
			n.svc, n.callID, n.depth, n.stack = p.svc, p.callID, p.depth, p.stack
		default:
			// A client recorded under another service than its parent's (a
			// proxy or sidecar naming itself): that service is the caller,
			// one hop further, though no call row leads to it.
			rep.add(IssueClientOtherService, fmt.Sprintf("trace %s span %s: client in %q under %q", n.traceID, n.spanID, n.service, p.svc))
			n.svc, n.callID, n.depth, n.stack = n.service, p.callID, p.depth+1, p.stack.push(n.service)
		}
		for _, c := range n.children {
			ch := &nodes[c]
			if !ch.kind.caller() && ch.service != "" && ch.service != n.svc {
				return // its server half will emit the call
			}
			if ch.kind == kindServer || ch.kind == kindConsumer {
				return // a call within the service: not a call
			}
		}
		switch {
		case n.remote != "" && n.remote != n.svc:
			emit(n, n.svc, n.remote, n.spanID, n.callID, n.depth+1, n.stack.push(n.remote), n, nil)
		case n.remote == "":
			rep.add(IssueClientNoCallee, fmt.Sprintf("trace %s span %s", n.traceID, n.spanID))
		}
		return
	}
	svc := n.service
	if svc == "" && p != nil {
		svc = p.svc
	}
	n.svc = svc
	switch {
	case p == nil:
		caller, parentID := "", ""
		n.depth, n.stack = 0, (*frame)(nil).push(svc)
		if n.orphan {
			parentID = n.parentID
			if (n.kind == kindServer || n.kind == kindConsumer) && n.remote != "" && n.remote != svc {
				caller, n.depth, n.stack = n.remote, 1, (*frame)(nil).push(n.remote).push(svc)
			}
		}
		n.callID = n.spanID
		emit(n, caller, svc, n.spanID, parentID, n.depth, n.stack, n, nil)
	case svc == p.svc:
		n.callID, n.depth, n.stack = p.callID, p.depth, p.stack // intra-service: not a call
	default:
		n.depth, n.stack = p.depth+1, p.stack.push(svc)
		client := (*node)(nil)
		if p.kind.caller() && !p.paired {
			client = p
		} else if p.inferClient && p.kind == kindUnset && len(p.children) == 1 && !p.paired && p.parent >= 0 {
			client = p
		}
		if client != nil {
			client.paired = true
			n.callID = client.spanID
			emit(n, p.svc, svc, client.spanID, p.callID, n.depth, n.stack, client, client)
			return
		}
		n.callID = n.spanID
		emit(n, p.svc, svc, n.spanID, p.callID, n.depth, n.stack, n, nil)
	}
}

func compareRaw(a, b rawSpan) int {
	return cmp.Or(cmp.Compare(a.spanID, b.spanID), cmp.Compare(a.kind, b.kind), cmp.Compare(a.start, b.start),
		cmp.Compare(b.dur, a.dur), cmp.Compare(a.service, b.service), cmp.Compare(a.parentID, b.parentID),
		cmp.Compare(a.name, b.name), cmp.Compare(a.remote, b.remote), cmp.Compare(a.status, b.status), boolCmp(a.err, b.err),
		boolCmp(a.timedOut, b.timedOut), cmp.Compare(a.retry, b.retry))
}

func compareNode(a, b *node) int {
	return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.spanID, b.spanID), cmp.Compare(a.kind, b.kind))
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
