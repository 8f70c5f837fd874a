package inject

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/chaosgen/chaosgen/bundle"
)

// Transport returns a client-side http.RoundTripper that applies bundle
// b's profiles to the requests it sends, with the same decision as the
// proxy and Handler: the caller is the X-Chaosgen-Caller header, else
// opts.Caller, else opts.Service; the callee is opts.Callee(req), by
// default the URL's host name. Faults: latency delays the request (and the
// response by the factor), abort returns a made-up response without
// sending anything, drop returns an error wrapping syscall.ECONNRESET,
// corrupt rewrites the response body. It panics when New fails; call New
// and Injector.Transport to handle that error. base nil means
// http.DefaultTransport.
func Transport(base http.RoundTripper, b *bundle.Bundle, opts Options) http.RoundTripper {
	if opts.Callee == nil {
		opts.Callee = func(r *http.Request) string { return r.URL.Hostname() }
	}
	inj, err := New(b, opts)
	if err != nil {
		panic("inject.Transport: " + err.Error())
	}
	return inj.Transport(base)
}

// Transport wraps base with the injector; the injector must have been
// made with Options.Callee set.
func (inj *Injector) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{inj: inj, base: base}
}

type transport struct {
	inj  *Injector
	base http.RoundTripper
}

// DropError is the error a drop fault makes Transport return.
type DropError struct{ Profile string }

func (e *DropError) Error() string {
	return "chaosgen: fault injected by profile " + e.Profile + ": connection dropped"
}

// Unwrap makes a DropError match syscall.ECONNRESET, like a real reset.
func (e *DropError) Unwrap() error { return syscall.ECONNRESET }

// Timeout reports false: a drop is a reset, not a timeout.
func (e *DropError) Timeout() bool { return false }

// Temporary reports true, as for a reset connection.
func (e *DropError) Temporary() bool { return true }

var _ net.Error = (*DropError)(nil)

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	inj := t.inj
	start := inj.now()
	inj.requests.Add(1)
	traceID, parent, traced := TraceContext(r.Header)
	caller := inj.opts.Caller
	if caller == "" {
		caller = inj.opts.Service
	}
	if v := r.Header[HeaderCaller]; len(v) > 0 && v[0] != "" {
		caller = v[0]
	}
	slot := inj.guard.Arrive(start.UnixNano(), caller == "")
	req := Request{TraceID: traceID, Caller: caller, Callee: inj.opts.Callee(r), Method: r.Method, Path: r.URL.Path}
	grpc := isGRPC(r.Header.Get("Content-Type"))
	a := inj.safeDecide(&req, start)
	decided := inj.now()
	inj.metrics.decision.Observe(decided.Sub(start).Seconds())

	rw := &respWriter{w: discardWriter{http.Header{}}, inj: inj, ctx: r.Context()}
	resp, out, err := t.apply(a, r, grpc)
	if a != nil {
		inj.release()
		rw.faulted = out != outPassed
		if out == outPassed {
			out = outNormal
		}
	}
	switch {
	case err != nil && out == outNormal:
		rw.status = http.StatusBadGateway
	case resp != nil:
		rw.status = resp.StatusCode
		for k, vv := range resp.Header {
			rw.w.Header()[k] = vv
		}
		for k, vv := range resp.Trailer {
			rw.w.Header()[k] = vv // only the ones known before the body; grpc aborts set them
		}
	}
	inj.finish(slot, &req, "", parent, traced, grpc, rw, a, out, start, decided, inj.now())
	return resp, err
}

func (t *transport) apply(a *active, r *http.Request, grpc bool) (resp *http.Response, out outcome, err error) {
	if a == nil {
		resp, err = t.base.RoundTrip(r)
		return resp, outNormal, err
	}
	inj := t.inj
	started := false
	defer func() {
		if p := recover(); p != nil {
			if started {
				panic(p)
			}
			inj.recoverInternal("fault "+a.p.ID, p)
			resp, err = t.base.RoundTrip(r)
			out = outNormal
		}
	}()
	runFaultHook(&a.p)
	f := &a.p.Fault
	switch f.Type {
	case bundle.FaultLatency:
		if !sleep(r.Context(), latencyDelay(f, inj.random)) {
			closeBody(r)
			return nil, outCancelled, r.Context().Err()
		}
		own := inj.now()
		started = true
		resp, err = t.base.RoundTrip(r)
		if err != nil {
			return nil, outNormal, err
		}
		if !sleep(r.Context(), factorDelay(f, inj.now().Sub(own))) {
			resp.Body.Close()
			return nil, outCancelled, r.Context().Err()
		}
		resp.Header.Set(HeaderFault, a.p.ID)
		return resp, outNormal, nil
	case bundle.FaultAbort:
		closeBody(r)
		httpStatus, grpcCode := abortStatus(f)
		resp = &http.Response{
			Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:  http.Header{HeaderFault: {a.p.ID}},
			Request: r,
		}
		if grpc {
			resp.StatusCode = http.StatusOK
			resp.Header["Content-Type"] = []string{"application/grpc"}
			resp.Trailer = http.Header{"Grpc-Status": {itoa(grpcCode)}, "Grpc-Message": {abortMessage(a.p.ID)}}
			resp.Body = http.NoBody
		} else {
			msg := abortMessage(a.p.ID) + "\n"
			resp.StatusCode = httpStatus
			resp.Header["Content-Type"] = []string{"text/plain; charset=utf-8"}
			resp.ContentLength = int64(len(msg))
			resp.Body = io.NopCloser(strings.NewReader(msg))
		}
		resp.Status = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		return resp, outNormal, nil
	case bundle.FaultDrop:
		closeBody(r)
		return nil, outDrop, &DropError{Profile: a.p.ID}
	case bundle.FaultCorrupt:
		started = true
		resp, err = t.base.RoundTrip(r)
		if err != nil {
			return nil, outNormal, err
		}
		limit := inj.corruptLimit()
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
		if rerr != nil {
			resp.Body.Close()
			return nil, outNormal, rerr
		}
		if len(body) > limit {
			// Too large to hold: the response goes through unchanged.
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
			inj.metrics.corruptPassed.Inc()
			return resp, outPassed, nil
		}
		resp.Body.Close()
		body = inj.safeCorrupt(a.p.ID, body, f.Mode, resp.Header.Get("Content-Type"))
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", itoa(len(body)))
		resp.Uncompressed = false
		resp.Header.Set(HeaderFault, a.p.ID)
		return resp, outNormal, nil
	}
	panic(fmt.Sprintf("unknown fault type %q", f.Type))
}

func closeBody(r *http.Request) {
	if r.Body != nil {
		r.Body.Close()
	}
}

// discardWriter gives finish a header map to read statuses from.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}
