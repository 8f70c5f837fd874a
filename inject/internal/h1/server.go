package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Server is the proxy's HTTP server. It serves plain HTTP/1.1
// requests itself, on one goroutine per connection with no other goroutine
// per request (net/http's server starts a background read per request to
// notice clients that go away, a hand-off that costs the proxy a good part
// of its latency), and hands every connection it does not serve itself to
// a standard http.Server: h2c (HTTP/2 with prior knowledge, for gRPC),
// HTTP/1.0, Expect (100-continue), Upgrade (websockets), CONNECT, request
// heads larger than its buffer or with bare-LF line ends. The hand-off
// happens before the first request it does not serve, with the bytes read
// so far, so the standard server sees the connection from that request on.
type Server struct {
	h           http.Handler
	fallback    *http.Server
	hand        *handoffListener
	idleTimeout time.Duration
	headTimeout time.Duration
	log         *slog.Logger
	slots       chan struct{} // one per open client connection; nil: no cap

	mu       sync.Mutex
	ln       net.Listener
	bp       *BusyPoll // nil: no busy polling
	conns    map[*h1conn]struct{}
	closed   atomic.Bool
	shutdown chan struct{}

	open          atomic.Int64 // client connections open, own and handed off
	acceptErrors  atomic.Int64
	lastAcceptLog atomic.Int64 // unix nano of the last accept error logged
}

// Limits bound the proxy's client side.
type Limits struct {
	// HeadTimeout bounds reading a request head once its first byte came.
	HeadTimeout time.Duration
	// IdleTimeout closes a client connection that sends no request for
	// this long.
	IdleTimeout time.Duration
	// MaxConns caps the open client connections: at the cap the proxy
	// stops accepting, and new connections wait in the kernel's backlog.
	// 0: no cap.
	MaxConns int
}

// NewServer returns a server of h within lim, logging to log; bp, when not
// nil, is the busy polling its connections share with the upstream side.
func NewServer(h http.Handler, log *slog.Logger, lim Limits, bp *BusyPoll) *Server {
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	s := &Server{
		h:           h,
		idleTimeout: lim.IdleTimeout,
		headTimeout: lim.HeadTimeout,
		log:         log,
		bp:          bp,
		conns:       map[*h1conn]struct{}{},
		shutdown:    make(chan struct{}),
	}
	if lim.MaxConns > 0 {
		s.slots = make(chan struct{}, lim.MaxConns)
	}
	s.hand = &handoffListener{ch: make(chan net.Conn), done: s.shutdown}
	s.fallback = &http.Server{
		Handler:           h,
		Protocols:         &protos,
		ReadHeaderTimeout: lim.HeadTimeout,
		IdleTimeout:       lim.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		// OPTIONS * goes to the upstream, as on the proxy's own path.
		DisableGeneralOptionsHandler: true,
	}
	return s
}

// releaser frees a client connection's slot once.
type releaser struct {
	s    *Server
	done atomic.Bool
}

func (r *releaser) release() {
	if r.done.Swap(true) {
		return
	}
	r.s.open.Add(-1)
	if r.s.slots != nil {
		<-r.s.slots
	}
}

// Serve accepts connections on ln until Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	if s.closed.Load() {
		ln.Close()
		return http.ErrServerClosed
	}
	s.hand.addr = ln.Addr()
	go s.fallback.Serve(s.hand)
	var delay time.Duration
	for {
		if s.slots != nil {
			select {
			case s.slots <- struct{}{}:
			case <-s.shutdown:
				return http.ErrServerClosed
			}
		}
		c, err := ln.Accept()
		if err != nil {
			if s.slots != nil {
				<-s.slots
			}
			if s.closed.Load() {
				return http.ErrServerClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of file descriptors (EMFILE, ENFILE), of buffers, a
			// connection reset before it was accepted, a timeout: wait
			// and try again, as net/http does (5ms doubling to 1s). The
			// connections waiting in the backlog are accepted once
			// descriptors are free again; exiting would take the service
			// behind the proxy down with it.
			s.acceptErrors.Add(1)
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			if now := time.Now().UnixNano(); now-s.lastAcceptLog.Load() >= int64(time.Second) {
				s.lastAcceptLog.Store(now)
				s.log.Error("proxy: accept failed; retrying", "err", err, "retry_in", delay.String(), "open_conns", s.open.Load())
			}
			select {
			case <-time.After(delay):
			case <-s.shutdown:
				return http.ErrServerClosed
			}
			continue
		}
		delay = 0
		s.open.Add(1)
		hc := &h1conn{s: s, c: NewRawConn(c, s.bp), remote: c.RemoteAddr().String()}
		hc.rel.s = s
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			c.Close()
			hc.rel.release()
			return http.ErrServerClosed
		}
		s.conns[hc] = struct{}{}
		s.mu.Unlock()
		go hc.serve()
	}
}

func (s *Server) forget(c *h1conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Server) stop() {
	if s.closed.Swap(true) {
		return
	}
	close(s.shutdown)
	s.mu.Lock()
	if s.ln != nil {
		s.ln.Close()
	}
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections and waits for the
// requests in progress (its own and the standard server's) to finish, or
// ctx to be done.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	ferr := make(chan error, 1)
	go func() { ferr <- s.fallback.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		for c := range s.conns {
			if c.state.Load() == connIdle {
				c.c.Close()
			}
		}
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			return <-ferr
		}
		select {
		case <-ctx.Done():
			s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listener and all connections at once.
func (s *Server) Close() error {
	s.stop()
	s.mu.Lock()
	for c := range s.conns {
		c.c.Close()
	}
	s.mu.Unlock()
	return s.fallback.Close()
}

// handoffListener feeds the connections Server hands off to the
// standard http.Server.
type handoffListener struct {
	ch   chan net.Conn
	done chan struct{}
	addr net.Addr
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error   { return nil }
func (l *handoffListener) Addr() net.Addr { return l.addr }

// handedConn is a connection with bytes already read from it in front,
// handed to the standard server or hijacked; closing it frees its slot.
type handedConn struct {
	net.Conn
	r   io.Reader
	rel *releaser
}

func (c *handedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *handedConn) Close() error {
	err := c.Conn.Close()
	c.rel.release()
	return err
}

// CloseWrite half-closes, for the websocket splice.
func (c *handedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

const (
	connIdle int32 = iota
	connActive
)

// h1conn is one client connection served by Server.
type h1conn struct {
	s        *Server
	c        net.Conn
	remote   string
	rel      releaser // the connection's slot, freed when it closes
	state    atomic.Int32
	rd       connReader
	br       *bufio.Reader
	bw       *bufio.Writer
	deadline time.Time // the read deadline set, zero for none
	headLen  int       // the length of the request head readHead found
	// the request parseRequestFast fills, reused
	req    http.Request
	url    url.URL
	reqHdr http.Header
	w      h1response

	// watching the client while a fault runs
	watching  bool
	watchDone chan struct{}
	watchBuf  [1]byte
	watchGone bool
}

// connReader reads the connection, after a byte the client watch read.
type connReader struct {
	c   net.Conn
	pre []byte
}

func (r *connReader) Read(p []byte) (int, error) {
	if len(r.pre) > 0 {
		n := copy(p, r.pre)
		r.pre = r.pre[n:]
		return n, nil
	}
	return r.c.Read(p)
}

var (
	h1ReaderPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 8<<10) }}
	h1WriterPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 8<<10) }}
)

var errHandOff = errors.New("hand off")

func (c *h1conn) serve() {
	c.rd.c = c.c
	c.br = h1ReaderPool.Get().(*bufio.Reader)
	c.br.Reset(&c.rd)
	c.bw = h1WriterPool.Get().(*bufio.Writer)
	c.bw.Reset(c.c)
	keep := true // the connection is closed at the end, not handed on
	defer func() {
		if keep {
			c.c.Close()
			c.rel.release()
		}
		c.s.forget(c)
		if keep { // a hijacked or handed-off connection keeps its buffers
			c.br.Reset(nil)
			c.bw.Reset(nil)
			h1ReaderPool.Put(c.br)
			h1WriterPool.Put(c.bw)
		}
	}()
	for {
		c.state.Store(connIdle)
		if c.s.closed.Load() {
			return
		}
		if c.br.Buffered() == 0 {
			now := time.Now()
			if c.deadline.IsZero() || c.deadline.Sub(now) < c.s.idleTimeout-time.Second {
				c.deadline = now.Add(c.s.idleTimeout)
				c.c.SetReadDeadline(c.deadline)
			}
		}
		req, err := c.nextRequest()
		if err != nil {
			if err == errHandOff {
				keep = false
				c.handOff()
				return
			}
			if bad := (errBadRequest{}); errors.As(err, &bad) {
				c.bw.WriteString("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
				c.bw.Flush()
			}
			return
		}
		if req.Body != http.NoBody && !c.deadline.IsZero() {
			c.c.SetReadDeadline(time.Time{}) // a body takes as long as it takes
			c.deadline = time.Time{}
		}
		bp := c.s.bp
		if bp != nil {
			bp.inflight.Add(1)
		}
		next, hijacked := c.serveRequest(req)
		if bp != nil {
			bp.inflight.Add(-1)
		}
		if hijacked {
			keep = false
			return
		}
		if !next {
			return
		}
	}
}

// nextRequest reads the next request: the common case with
// parseRequestFast, the rest with http.ReadRequest and the checks
// net/http's server adds (checkRequest). It returns errHandOff when the
// standard server is to serve the connection, an errBadRequest for a
// request net/http's server would refuse with 400, or the read error.
func (c *h1conn) nextRequest() (*http.Request, error) {
	if err := c.readHead(); err != nil {
		return nil, err
	}
	c.state.Store(connActive)
	head, _ := c.br.Peek(c.headLen)
	if c.reqHdr == nil {
		c.reqHdr = make(http.Header, 16)
	}
	if req := parseRequestFast(head[:c.headLen-2], &c.req, &c.url, c.reqHdr); req != nil {
		c.br.Discard(c.headLen)
		return req, nil
	}
	hosts := headerHosts(head) // http.ReadRequest drops them from the header
	req, err := http.ReadRequest(c.br)
	if err != nil {
		return nil, errBadRequest{err}
	}
	if err := checkRequest(req, hosts); err != nil {
		return nil, err
	}
	return req, nil
}

// readHead waits for a whole request head in the buffer and returns
// errHandOff when the standard server is to serve the connection.
func (c *h1conn) readHead() error {
	if _, err := c.br.Peek(1); err != nil {
		return err
	}
	slow := false
	for {
		b, _ := c.br.Peek(c.br.Buffered())
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			if slow {
				c.deadline = time.Time{} // set again for the next request
			}
			// A bare LF ends a line for textproto too: the head may end
			// before this CRLF CRLF, where net/http's reading ends it.
			if hasBareLF(b[:i+2]) || !servable(b[:i+2]) {
				return errHandOff
			}
			c.headLen = i + 4
			return nil
		}
		if len(b) == c.br.Size() || bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\n\r\n")) {
			return errHandOff // too large, or a head that ends with bare LFs
		}
		if !slow { // the rest of the head must come within headTimeout
			slow = true
			c.c.SetReadDeadline(time.Now().Add(c.s.headTimeout))
		}
		if _, err := c.br.Peek(len(b) + 1); err != nil {
			return err
		}
	}
}

// hasBareLF reports whether b has a line feed without a carriage return
// before it.
func hasBareLF(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return false
		}
		i += j
		if i == 0 || b[i-1] != '\r' {
			return true
		}
		i++
	}
}

// servable reports whether Server serves a request head itself (each
// line ends with CRLF): HTTP/1.1, not CONNECT, no Expect, Upgrade or
// HTTP2-Settings header.
func servable(head []byte) bool {
	i := bytes.IndexByte(head, '\n')
	line := head[:i+1]
	if !bytes.HasSuffix(line, []byte(" HTTP/1.1\r\n")) || bytes.HasPrefix(line, []byte("CONNECT ")) {
		return false
	}
	for rest := head[i+1:]; len(rest) > 0; {
		j := bytes.IndexByte(rest, '\n')
		line, rest = rest[:j+1], rest[j+1:]
		k := bytes.IndexByte(line, ':')
		if k < 0 {
			continue // ReadRequest refuses it
		}
		name := line[:k]
		switch len(name) {
		case 6:
			if asciiEqualFold(name, "expect") {
				return false
			}
		case 7:
			if asciiEqualFold(name, "upgrade") {
				return false
			}
		case 14:
			if asciiEqualFold(name, "http2-settings") {
				return false
			}
		}
	}
	return true
}

func asciiEqualFold(b []byte, lower string) bool {
	for i := 0; i < len(b); i++ {
		if b[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// handOff passes the connection, with the bytes read so far, to the
// standard server.
func (c *h1conn) handOff() {
	c.c.SetReadDeadline(time.Time{})
	stopPolling(c.c) // net/http serves it now, outside the busy-poll accounting
	buffered, _ := c.br.Peek(c.br.Buffered())
	pre := append(append([]byte(nil), buffered...), c.rd.pre...)
	hc := &handedConn{Conn: c.c, r: io.MultiReader(bytes.NewReader(pre), c.c), rel: &c.rel}
	select {
	case c.s.hand.ch <- hc:
	case <-c.s.shutdown:
		hc.Close()
	}
}

// serveRequest runs the handler for one request and completes the
// response. next reports whether the connection can serve another request.
func (c *h1conn) serveRequest(req *http.Request) (next, hijacked bool) {
	// The request's context is never cancelled unless a fault runs: the
	// middleware then derives one that watchClient cancels.
	req.RemoteAddr = c.remote
	w := &c.w
	w.reset(c, req)
	panicked := c.runHandler(w, req)
	if c.watching {
		c.stopWatch()
	}
	if w.hijacked {
		return false, true
	}
	if panicked {
		if w.committed {
			c.bw.Flush() // the client sees a truncated response and the close
		}
		return false, false
	}
	ok := w.finish()
	w.clear()
	return ok, false
}

func (c *h1conn) runHandler(w *h1response, req *http.Request) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			if p != http.ErrAbortHandler {
				c.s.log.Error("proxy: panic serving request", "remote", c.remote, "panic", p)
			}
		}
	}()
	c.s.h.ServeHTTP(w, req)
	return false
}

// watchClient cancels the request's context when the client closes the
// connection, while a fault runs: like net/http's background read, with
// the byte it may read kept for the next request.
func (c *h1conn) watchClient(cancel context.CancelFunc, body io.ReadCloser) {
	if c.watching || body != http.NoBody || c.br.Buffered() > 0 || len(c.rd.pre) > 0 {
		return
	}
	c.watching = true
	c.watchGone = false
	c.watchDone = make(chan struct{})
	go func() {
		defer close(c.watchDone)
		n, err := c.c.Read(c.watchBuf[:])
		if n > 0 {
			c.rd.pre = c.watchBuf[:n]
			return
		}
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			c.watchGone = true
			cancel()
		}
	}()
}

func (c *h1conn) stopWatch() {
	c.c.SetReadDeadline(ALongTimeAgo)
	<-c.watchDone
	c.watching = false
	c.c.SetReadDeadline(time.Time{})
	c.deadline = time.Time{}
	if c.watchGone {
		c.w.closeAfter = true
	}
}

// h1response is Server's http.ResponseWriter. It follows net/http's
// rules: a body that the handler finished within 2 KiB without a
// Content-Length gets one, otherwise the body is chunked; Content-Type is
// sniffed when the header is absent (nil suppresses it), Date added when
// absent; trailers are declared with the Trailer header or set with
// http.TrailerPrefix.
type h1response struct {
	c          *h1conn
	req        *http.Request
	h          http.Header
	status     int
	committed  bool
	hijacked   bool
	chunked    bool
	noBody     bool  // HEAD, 1xx, 204, 304
	cl         int64 // declared Content-Length, -1 for none
	written    int64
	closeAfter bool
	pending    []byte // body held back before the header is written
	buf        [2048]byte
	num        [32]byte
}

func (w *h1response) reset(c *h1conn, req *http.Request) {
	h := w.h
	if h == nil {
		h = make(http.Header, 16)
	}
	// Field by field: the buffers need no zeroing.
	w.c, w.req, w.h, w.status = c, req, h, 0
	w.committed, w.hijacked, w.chunked, w.noBody = false, false, false, false
	w.cl, w.written, w.closeAfter = -1, 0, req.Close
	w.pending = w.buf[:0]
}

func (w *h1response) clear() {
	clear(w.h)
	w.req = nil
}

func (w *h1response) Header() http.Header { return w.h }

func (w *h1response) WriteHeader(code int) {
	if w.committed || w.hijacked {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		bw := w.c.bw
		w.writeStatusLine(code)
		w.writeHeaderLines(false)
		bw.WriteString("\r\n")
		bw.Flush()
		return
	}
	if w.status == 0 {
		w.status = code
	}
}

func (w *h1response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if !w.committed {
		if len(w.h["Content-Length"]) == 0 && len(w.pending)+len(p) <= cap(w.pending) {
			w.pending = append(w.pending, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	return w.writeBody(p)
}

func (w *h1response) writeBody(p []byte) (int, error) {
	if w.noBody {
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(p)) > w.cl {
		return 0, http.ErrContentLength
	}
	if len(p) == 0 {
		return 0, nil
	}
	w.written += int64(len(p))
	bw := w.c.bw
	if w.chunked {
		bw.Write(strconv.AppendInt(w.num[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
		n, err := bw.Write(p)
		if err == nil {
			_, err = bw.WriteString("\r\n")
		}
		return n, err
	}
	return bw.Write(p)
}

func (w *h1response) Flush() { w.FlushError() }

func (w *h1response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.committed {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		w.commit(false)
	}
	return w.c.bw.Flush()
}

func (w *h1response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	if w.c.watching {
		w.c.stopWatch()
	}
	if w.committed {
		w.c.bw.Flush()
	}
	w.hijacked = true
	var r io.Reader = w.c.c
	if len(w.c.rd.pre) > 0 {
		r = io.MultiReader(bytes.NewReader(w.c.rd.pre), w.c.c)
	}
	conn := &handedConn{Conn: w.c.c, r: r, rel: &w.c.rel}
	return conn, bufio.NewReadWriter(w.c.br, w.c.bw), nil
}

// watchClient is called by the injector's middleware before a fault runs,
// with the cancel function of the context the fault and the handler see.
func (w *h1response) WatchClient(cancel context.CancelFunc) { w.c.watchClient(cancel, w.req.Body) }

// commit writes the status line and the header; final means the handler
// has returned, so a body held back can get a Content-Length.
func (w *h1response) commit(final bool) {
	w.committed = true
	h := w.h
	code := w.status
	bodyOK := bodyAllowed(code)
	isHEAD := w.req.Method == "HEAD"
	trailers := len(h["Trailer"]) > 0
	if !trailers {
		for k := range h {
			if strings.HasPrefix(k, http.TrailerPrefix) {
				trailers = true
				break
			}
		}
	}
	if v := h["Content-Length"]; len(v) > 0 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			w.cl = n
		} else {
			delete(h, "Content-Length")
		}
	}
	var autoCL bool
	if final && !trailers && bodyOK && w.cl < 0 && (!isHEAD || len(w.pending) > 0) {
		w.cl = int64(len(w.pending))
		autoCL = true
	}
	if v := h["Connection"]; len(v) > 0 && HeaderHasToken(v, "close") {
		w.closeAfter = true
	}
	w.noBody = isHEAD || !bodyOK
	w.chunked = !w.noBody && w.cl < 0
	bw := w.c.bw
	w.writeStatusLine(code)
	w.writeHeaderLines(!bodyOK)
	if bodyOK {
		if _, ok := h["Content-Type"]; !ok && len(w.pending) > 0 && len(h["Content-Encoding"]) == 0 {
			bw.WriteString("Content-Type: ")
			bw.WriteString(http.DetectContentType(w.pending))
			bw.WriteString("\r\n")
		}
	}
	if autoCL {
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(w.num[:0], w.cl, 10))
		bw.WriteString("\r\n")
	}
	if _, ok := h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.Write(time.Now().UTC().AppendFormat(w.num[:0], http.TimeFormat))
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.closeAfter {
		if len(h["Connection"]) == 0 {
			bw.WriteString("Connection: close\r\n")
		}
	}
	bw.WriteString("\r\n")
	if len(w.pending) > 0 {
		p := w.pending
		w.pending = w.buf[:0]
		w.writeBody(p)
	}
}

func (w *h1response) writeStatusLine(code int) {
	bw := w.c.bw
	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(w.num[:0], int64(code), 10))
	bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.Write(strconv.AppendInt(w.num[:0], int64(code), 10))
	}
	bw.WriteString("\r\n")
}

// writeHeaderLines writes the handler's header fields but those the
// server manages (Transfer-Encoding, trailers; the body's framing when
// there is no body).
func (w *h1response) writeHeaderLines(noBody bool) {
	bw := w.c.bw
	for k, vv := range w.h {
		switch k {
		case "Transfer-Encoding":
			continue
		case "Content-Length":
			if noBody {
				continue
			}
		case "Content-Type":
			if w.status == http.StatusNotModified {
				continue
			}
		}
		if strings.HasPrefix(k, http.TrailerPrefix) || !validHeaderName(k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			writeHeaderValue(bw, v)
			bw.WriteString("\r\n")
		}
	}
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == ':' || c >= 0x7f {
			return false
		}
	}
	return true
}

// writeHeaderValue writes v with CR and LF replaced by spaces, trimmed,
// as net/http does.
func writeHeaderValue(bw *bufio.Writer, v string) {
	v = strings.TrimSpace(v)
	if strings.IndexByte(v, '\r') < 0 && strings.IndexByte(v, '\n') < 0 {
		bw.WriteString(v)
		return
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		bw.WriteByte(c)
	}
}

func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// finish completes the response after the handler returned: the header if
// not written yet, the last chunk and trailers, the rest of the request
// body. It reports whether the connection can serve another request.
func (w *h1response) finish() bool {
	// What remains of the request body is read (up to 256 KiB) so the
	// connection can serve the next request.
	body := w.req.Body
	if body != http.NoBody && !w.closeAfter {
		if _, err := io.CopyN(io.Discard, body, 256<<10+1); err != io.EOF {
			w.closeAfter = true
		}
	}
	if !w.committed {
		if w.status == 0 {
			w.status = http.StatusOK
		}
		w.commit(true)
	}
	bw := w.c.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		w.writeTrailers()
		bw.WriteString("\r\n")
	} else if !w.noBody && w.cl >= 0 && w.written < w.cl {
		w.closeAfter = true // the client sees a short body
	}
	if body != http.NoBody {
		body.Close()
	}
	if err := bw.Flush(); err != nil {
		return false
	}
	return !w.closeAfter
}

func (w *h1response) writeTrailers() {
	bw := w.c.bw
	for _, v := range w.h["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			if k == "" || HopByHop(k) || k == "Content-Length" {
				continue
			}
			for _, x := range w.h[k] {
				bw.WriteString(k)
				bw.WriteString(": ")
				writeHeaderValue(bw, x)
				bw.WriteString("\r\n")
			}
		}
	}
	for k, vv := range w.h {
		name, ok := strings.CutPrefix(k, http.TrailerPrefix)
		if !ok || !validHeaderName(name) {
			continue
		}
		for _, x := range vv {
			bw.WriteString(name)
			bw.WriteString(": ")
			writeHeaderValue(bw, x)
			bw.WriteString("\r\n")
		}
	}
}

// Collectors are the proxy server's metrics.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chaosgen_inject_open_connections", Help: "Client connections open on the proxy."},
			func() float64 { return float64(s.open.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "chaosgen_inject_accept_errors_total", Help: "Failed accepts on the proxy's listener (out of file descriptors, ...); each is retried after a pause."},
			func() float64 { return float64(s.acceptErrors.Load()) }),
	}
}

// OpenConns is the number of client connections open, own and handed off.
func (s *Server) OpenConns() int64 { return s.open.Load() }

// AcceptErrors is the number of accept errors since the server started.
func (s *Server) AcceptErrors() int64 { return s.acceptErrors.Load() }

// ReadOneRequest reads the first request on c as the server's own path
// does: the fast parser, net/http's server checks, and the decision to
// hand the connection to net/http (handed, with no request). remote is the
// client address the request carries. It is how the differential fuzz
// test of package inject sees the server.
func ReadOneRequest(c net.Conn, remote string, headTimeout time.Duration) (req *http.Request, handed bool, err error) {
	s := &Server{headTimeout: headTimeout, idleTimeout: headTimeout, log: slog.New(slog.DiscardHandler)}
	hc := &h1conn{s: s, c: c, remote: remote}
	hc.rd.c = c
	hc.br = bufio.NewReaderSize(&hc.rd, 8<<10)
	req, err = hc.nextRequest()
	if err == errHandOff {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	req.RemoteAddr = remote
	return req, false, nil
}
