package inject

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/guard"
	"github.com/chaosgen/chaosgen/ingest"
)

// Handler returns middleware that applies bundle b's profiles to the
// requests next serves, as the proxy does: opts.Service is the callee,
// the caller comes from the X-Chaosgen-Caller header or opts.Caller. It
// panics when New fails (no clock, an expired bundle); call New and
// Injector.Handler to handle that error.
func Handler(next http.Handler, b *bundle.Bundle, opts Options) http.Handler {
	inj, err := New(b, opts)
	if err != nil {
		panic("inject.Handler: " + err.Error())
	}
	return inj.Handler(next)
}

// Handler wraps next with the injector.
func (inj *Injector) Handler(next http.Handler) http.Handler {
	return &server{inj: inj, next: next}
}

type server struct {
	inj  *Injector
	next http.Handler
}

// faultHook, when set (by tests), runs at the start of every fault's
// application; a panic in it exercises fail-open.
// It is atomic: tests set it while servers run, and the proxy's raw socket
// reads give the race detector no happens-before edge with the client.
var faultHook atomic.Pointer[func(p *bundle.Profile)]

// runFaultHook calls faultHook when it is set.
func runFaultHook(p *bundle.Profile) {
	if h := faultHook.Load(); h != nil {
		(*h)(p)
	}
}

var rwPool = sync.Pool{New: func() any { return new(respWriter) }}

// outcome is how a fault ended a request, when it did.
type outcome uint8

const (
	outNormal    outcome = iota
	outDrop              // the connection is to be closed without a response
	outCancelled         // the client went away during an injected delay
	outPassed            // Transport: a corrupt fault's response was too large and passed unchanged
)

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	inj := s.inj
	start := inj.now()
	n := inj.requests.Add(1)

	traceID, parent, traced := TraceContext(r.Header)
	caller := inj.opts.Caller
	if v := r.Header[HeaderCaller]; len(v) > 0 && v[0] != "" {
		caller = v[0]
	}
	slot := inj.guard.Arrive(start.UnixNano(), caller == "")
	req := Request{TraceID: traceID, Caller: caller, Callee: inj.opts.Service, Method: r.Method, Path: r.URL.Path}
	grpc := false
	if ct := r.Header["Content-Type"]; len(ct) > 0 {
		grpc = isGRPC(ct[0])
	}
	a := inj.safeDecide(&req, start)
	// The decision time is observed for every fault and one in 16 other
	// requests: a clock read and an observation cost as much as a decision.
	decided := start
	if a != nil || n&15 == 0 {
		decided = inj.now()
		inj.metrics.decision.Observe(decided.Sub(start).Seconds())
	}

	// With records on, the request goes on as a child of this hop's span,
	// as a tracing proxy (Envoy) sends it: its record's span id becomes the
	// traceparent's parent id, so the records of a chain of sidecars form
	// call trees by themselves.
	var spanID string
	if inj.opts.Records != nil {
		spanID = inj.propagate(r.Header, &req, traced)
	}

	rw := rwPool.Get().(*respWriter)
	*rw = respWriter{w: w, inj: inj, ctx: r.Context()}
	out := outNormal
	if a == nil {
		s.next.ServeHTTP(rw, r)
	} else {
		if wc, ok := w.(clientWatcher); ok {
			// A delay must notice a client that goes away: h1.Server
			// cancels this context when it does.
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			r = r.WithContext(ctx)
			rw.ctx = ctx
			wc.WatchClient(cancel)
		}
		out = s.apply(a, rw, r, grpc)
		inj.release()
	}
	end := inj.now()
	inj.finish(slot, &req, spanID, parent, traced, grpc, rw, a, out, start, decided, end)
	hijacked := rw.hijacked
	*rw = respWriter{}
	rwPool.Put(rw)
	if out == outDrop && !hijacked {
		panic(http.ErrAbortHandler) // HTTP/2: the stream is reset without a response
	}
}

// clientWatcher is implemented by h1.Server's response writer: it calls
// cancel when the client goes away, which h1.Server only watches for
// while a fault runs (its requests' own contexts are never cancelled).
type clientWatcher interface {
	WatchClient(cancel context.CancelFunc)
}

// safeDecide is decide with fail-open: a panic counts as an internal error
// and means no fault.
func (inj *Injector) safeDecide(req *Request, now time.Time) (a *active) {
	defer func() {
		if p := recover(); p != nil {
			inj.recoverInternal("decide", p)
			a = nil
		}
	}()
	return inj.decide(req, now)
}

// apply applies a's fault to one request. A panic in the injector's own
// code before anything reached the client passes the request to next
// unchanged (fail-open); a panic in next propagates as usual.
func (s *server) apply(a *active, rw *respWriter, r *http.Request, grpc bool) (out outcome) {
	inj := s.inj
	nextCalled := false
	defer func() {
		if p := recover(); p != nil {
			if nextCalled || rw.wrote || p == http.ErrAbortHandler {
				panic(p)
			}
			inj.recoverInternal("fault "+a.p.ID, p)
			rw.faulted = false
			delete(rw.Header(), HeaderFault)
			s.next.ServeHTTP(rw, r)
			out = outNormal
		}
	}()
	runFaultHook(&a.p)
	f := &a.p.Fault
	rw.faulted = true
	switch f.Type {
	case bundle.FaultLatency:
		if !sleep(r.Context(), latencyDelay(f, inj.random)) {
			return outCancelled
		}
		rw.Header()[HeaderFault] = []string{a.p.ID}
		if f.Factor > 1 {
			rw.factor = f.Factor
			rw.ownStart = inj.now()
		}
		nextCalled = true
		s.next.ServeHTTP(rw, r)
	case bundle.FaultAbort:
		writeAbort(rw, a.p.ID, f, grpc)
	case bundle.FaultDrop:
		if r.ProtoMajor == 1 {
			if conn, _, err := http.NewResponseController(rw.w).Hijack(); err == nil {
				conn.Close()
				rw.hijacked = true
			}
		}
		return outDrop
	case bundle.FaultCorrupt:
		bw := &bufferWriter{header: http.Header{}, limit: inj.corruptLimit(), out: rw}
		nextCalled = true
		s.next.ServeHTTP(bw, r)
		if bw.passed {
			// Too large to hold: the response went through unchanged.
			bw.passTrailers()
			rw.faulted = false
			inj.metrics.corruptPassed.Inc()
			return outNormal
		}
		nextCalled = false
		h := bw.header
		body := inj.safeCorrupt(a.p.ID, bw.body.Bytes(), f.Mode, h.Get("Content-Type"))
		bw.writeTo(rw, body, a.p.ID)
	default:
		panic(fmt.Sprintf("unknown fault type %q", f.Type))
	}
	return outNormal
}

// safeCorrupt is Corrupt with fail-open: on a panic the body is returned
// unchanged.
func (inj *Injector) safeCorrupt(id string, body []byte, mode, contentType string) (out []byte) {
	defer func() {
		if p := recover(); p != nil {
			inj.recoverInternal("corrupt "+id, p)
			out = body
		}
	}()
	runFaultHook(&bundle.Profile{ID: id + "/corrupt"})
	return Corrupt(body, mode, contentType, inj.random)
}

// writeAbort answers in place of the upstream: an HTTP status with a short
// text body, or for gRPC requests HTTP 200 with grpc-status and
// grpc-message trailers.
func writeAbort(w http.ResponseWriter, id string, f *bundle.Fault, grpc bool) {
	h := w.Header()
	httpStatus, grpcCode := abortStatus(f)
	h[HeaderFault] = []string{id}
	if grpc {
		h["Content-Type"] = []string{"application/grpc"}
		h["Trailer"] = []string{"Grpc-Status, Grpc-Message"}
		w.WriteHeader(http.StatusOK)
		h["Grpc-Status"] = []string{itoa(grpcCode)}
		h["Grpc-Message"] = []string{abortMessage(id)}
		return
	}
	msg := abortMessage(id) + "\n"
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["Content-Length"] = []string{itoa(len(msg))}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(httpStatus)
	io.WriteString(w, msg)
}

// finish accounts for a request that ended: the guard window, and the span
// record.
func (inj *Injector) finish(slot guard.Arrival, req *Request, spanID, parent string, traced, grpc bool, rw *respWriter,
	a *active, out outcome, start, injectedAt, end time.Time) {
	status := rw.status
	failed := false
	switch {
	case out == outDrop:
		status, failed = 0, true
	case out == outCancelled || rw.cancelled:
		status, failed = 499, true
	case status == 0:
		status = http.StatusOK
	}
	if grpc && out == outNormal {
		h := rw.w.Header()
		code := h["Grpc-Status"]
		if len(code) == 0 {
			code = h[http.TrailerPrefix+"Grpc-Status"]
		}
		if len(code) > 0 {
			status = atoiDefault(code[0], 2)
			failed = guard.ServerError(status)
		} else if status == http.StatusOK {
			status = 0 // OK, the stream ended without a status
		}
	} else if status >= 500 {
		failed = true
	}
	inj.guard.Observe(slot, end.UnixNano(), failed)
	inj.metrics.duration.Observe(end.Sub(start).Seconds())
	inj.metrics.statuses.add(status)
	rec := inj.opts.Records
	if rec == nil {
		return
	}
	if req.TraceID == "" {
		req.TraceID = hexID(inj.random, 2)
	}
	if spanID == "" {
		spanID = hexID(inj.random, 1)
	}
	// The record keeps copies, at most maxRecordField bytes each, of what
	// it takes from the request: strings cut from the request head would
	// hold the whole head in memory until the record is written.
	path := recordField(req.Path)
	op := path
	if !grpc {
		op = req.Method + " " + path
	}
	caller := recordField(req.Caller)
	traceID := recordField(req.TraceID)
	sp := ingest.Span{
		TraceID:       traceID,
		SpanID:        spanID,
		ParentSpanID:  recordField(parent),
		Caller:        caller,
		Callee:        req.Callee,
		Operation:     op,
		StartUnixNano: start.UnixNano(),
		DurationNano:  int64(end.Sub(start)),
		StatusCode:    int32(status),
		Error:         failed,
		RetryCount:    inj.retries.seen(traceID, op, start),
		TimedOut:      status == http.StatusGatewayTimeout || grpc && status == 4,
	}
	if traced || req.Caller != "" {
		sp.Depth = 1
	}
	if caller != "" {
		sp.Stack = []string{caller, req.Callee}
	} else {
		sp.Stack = []string{req.Callee}
	}
	if a != nil && rw.faulted {
		sp.Injected = true
		sp.FaultType = a.p.Fault.Type
		sp.FaultProfileID = a.p.ID
		sp.InjectedAtUnixNano = injectedAt.UnixNano()
	}
	rec.Record(&sp)
}

// maxRecordField bounds each string a record takes from a request (path,
// caller, trace and parent ids): a longer one is cut to this many bytes.
const maxRecordField = 1024

// recordField returns a copy of s, cut to maxRecordField bytes.
func recordField(s string) string {
	if len(s) > maxRecordField {
		s = s[:maxRecordField]
	}
	return strings.Clone(s)
}

func atoiDefault(s string, def int) int {
	n := 0
	if s == "" || len(s) > 9 {
		return def
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return def
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// respWriter sees what a handler sends: the status, whether anything was
// written, and holds the response back for a latency fault's factor.
type respWriter struct {
	w         http.ResponseWriter
	inj       *Injector
	ctx       context.Context
	status    int
	wrote     bool
	hijacked  bool
	faulted   bool
	cancelled bool
	factor    float64
	ownStart  time.Time
}

func (rw *respWriter) Header() http.Header { return rw.w.Header() }

// holdBack applies a latency factor once, before the first byte.
func (rw *respWriter) holdBack() {
	if rw.factor <= 1 {
		return
	}
	f := rw.factor
	rw.factor = 0
	own := rw.inj.now().Sub(rw.ownStart)
	if !sleep(rw.ctx, factorDelay(&bundle.Fault{Factor: f}, own)) {
		rw.cancelled = true
	}
}

func (rw *respWriter) WriteHeader(code int) {
	if !rw.wrote && (code >= 200 || code == http.StatusSwitchingProtocols) {
		rw.holdBack()
		rw.status = code
		rw.wrote = true
	}
	rw.w.WriteHeader(code)
}

func (rw *respWriter) Write(p []byte) (int, error) {
	if !rw.wrote {
		rw.holdBack()
		rw.status = http.StatusOK
		rw.wrote = true
	}
	return rw.w.Write(p)
}

func (rw *respWriter) Flush() {
	if !rw.wrote {
		rw.holdBack()
		rw.status = http.StatusOK
		rw.wrote = true
	}
	http.NewResponseController(rw.w).Flush()
}

func (rw *respWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(rw.w).Hijack()
	if err == nil {
		rw.hijacked = true
		if !rw.wrote {
			rw.status = http.StatusSwitchingProtocols
			rw.wrote = true
		}
	}
	return c, brw, err
}

func (rw *respWriter) Unwrap() http.ResponseWriter { return rw.w }

// bufferWriter keeps a response whole for a corrupt fault, up to limit
// bytes of body; a larger body, or an event stream, is passed through to
// out unchanged from then on (passed), since holding it would take the
// proxy's memory or hold the stream forever.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	limit  int
	out    http.ResponseWriter
	passed bool
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 && code >= 200 {
		b.status = code
	}
}
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.passed {
		return b.out.Write(p)
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	if b.body.Len()+len(p) > b.limit {
		b.pass()
		return b.out.Write(p)
	}
	return b.body.Write(p)
}

// pass sends what was held to out and switches to passing through.
func (b *bufferWriter) pass() {
	b.passed = true
	h := b.out.Header()
	for k, vv := range b.header {
		h[k] = vv
	}
	b.out.WriteHeader(b.status)
	if b.body.Len() > 0 {
		b.out.Write(b.body.Bytes())
	}
	b.body = bytes.Buffer{}
}

// passTrailers copies the trailers the handler set after passing began.
func (b *bufferWriter) passTrailers() {
	h := b.out.Header()
	for k, vv := range b.header {
		if _, ok := h[k]; !ok {
			h[k] = vv
		}
	}
}

// Flush passes an event stream through from its first flush: its events
// must flow, and it may never end. Other responses stay held.
func (b *bufferWriter) Flush() {
	if !b.passed && strings.HasPrefix(b.header.Get("Content-Type"), "text/event-stream") {
		if b.status == 0 {
			b.status = http.StatusOK
		}
		b.pass()
	}
	if b.passed {
		http.NewResponseController(b.out).Flush()
	}
}

// writeTo sends the buffered response with body in place of the original,
// Content-Length set to its length, the trailers after it.
func (b *bufferWriter) writeTo(w http.ResponseWriter, body []byte, id string) {
	h := w.Header()
	declared := map[string]bool{}
	for _, v := range b.header["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				declared[http.CanonicalHeaderKey(k)] = true
			}
		}
	}
	var trailers [][2]any
	for k, vv := range b.header {
		if declared[k] || strings.HasPrefix(k, http.TrailerPrefix) {
			trailers = append(trailers, [2]any{k, vv})
			continue
		}
		h[k] = vv
	}
	h[HeaderFault] = []string{id}
	if len(trailers) == 0 {
		h["Content-Length"] = []string{itoa(len(body))}
	} else {
		delete(h, "Content-Length")
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(body)
	for _, t := range trailers {
		h[t[0].(string)] = t[1].([]string)
	}
}
