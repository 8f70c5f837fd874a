package inject

import (
	"bufio"
	"context"
	"fmt"
	"github.com/chaosgen/chaosgen/inject/internal/h1"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProxyOptions tune the upstream side of the proxy.
type ProxyOptions struct {
	// MaxIdleConns is how many idle HTTP/1.1 connections to the upstream
	// are kept for reuse; default 256.
	MaxIdleConns int
	// IdleConnTimeout closes idle upstream connections older than this
	// instead of reusing them (servers close idle connections after their
	// own timeout); default 30s.
	IdleConnTimeout time.Duration
	// DialTimeout bounds connecting to the upstream; default 5s.
	DialTimeout time.Duration
	// Now is the clock for idle ages; required (the injector's clock).
	Now func() time.Time
	// Logger receives upstream errors; nil: discard.
	Logger *slog.Logger
}

// Upstream is the proxy's forwarding handler: it sends each request to one
// upstream base URL and copies the response back, streaming both bodies.
// HTTP/1.1 requests (and HTTP/2 requests that are not gRPC) go over pooled
// HTTP/1.1 keep-alive connections written and read directly, without the
// goroutine hand-offs of http.Transport; gRPC goes over h2c (HTTP/2 with
// prior knowledge) with trailers; websocket and other upgrades are spliced
// through untouched. Hop-by-hop headers are not forwarded, nothing else
// is added or removed.
type Upstream struct {
	target *url.URL
	addr   string
	o      ProxyOptions
	dialer net.Dialer
	h2     *http.Transport

	bp *h1.BusyPoll // shared with the proxy server; nil: no polling

	mu   sync.Mutex
	idle []*pconn
}

type pconn struct {
	conn      net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	// the response being read, for h1.ReadResponse
	resp    http.Response
	respHdr http.Header
	body    h1.Body
}

// NewUpstream returns the forwarding handler for an http:// upstream URL.
func NewUpstream(target string, o ProxyOptions) (*Upstream, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: %w", target, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("upstream %q: want http://host:port", target)
	}
	if o.Now == nil {
		return nil, ErrNoClock
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = 256
	}
	if o.IdleConnTimeout <= 0 {
		o.IdleConnTimeout = 30 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	up := &Upstream{target: u, addr: addr, o: o}
	up.dialer = net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	up.h2 = &http.Transport{
		Protocols:           &protos,
		DialContext:         up.dialer.DialContext,
		DisableCompression:  true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	return up, nil
}

// Close closes the idle upstream connections.
func (up *Upstream) Close() {
	up.mu.Lock()
	idle := up.idle
	up.idle = nil
	up.mu.Unlock()
	for _, pc := range idle {
		pc.conn.Close()
	}
	up.h2.CloseIdleConnections()
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (up *Upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodConnect:
		refuseConnect(w)
	case r.ProtoMajor == 2 && isGRPC(r.Header.Get("Content-Type")):
		up.serveH2(w, r)
	case r.ProtoMajor == 1 && isUpgrade(r.Header):
		up.serveUpgrade(w, r)
	default:
		up.serveH1(w, r)
	}
}

// refuseConnect answers a CONNECT request: the proxy stands in front of
// one service and opens no tunnels (a CONNECT forwarded as an ordinary
// request would reach the upstream as "CONNECT /").
func refuseConnect(w http.ResponseWriter) {
	h := w.Header()
	h["Allow"] = []string{"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, TRACE"}
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusMethodNotAllowed)
	io.WriteString(w, "chaosgen: CONNECT is not supported: the proxy forwards requests to one upstream and opens no tunnels\n")
}

// clientIP is the host part of a RemoteAddr ("1.2.3.4:5678", "[::1]:5678").
func clientIP(remote string) string {
	i := strings.LastIndexByte(remote, ':')
	if i < 0 {
		return remote
	}
	host := remote[:i]
	if len(host) >= 2 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return host
}

// forwardedFor is the X-Forwarded-For value sent upstream: the client's
// list with the client's address appended, as httputil.ReverseProxy does.
func forwardedFor(prior []string, remote string) string {
	ip := clientIP(remote)
	switch {
	case len(prior) == 0:
		return ip
	case ip == "":
		return strings.Join(prior, ", ")
	}
	return strings.Join(prior, ", ") + ", " + ip
}

func isUpgrade(h http.Header) bool {
	return len(h["Upgrade"]) > 0 && headerHasToken(h["Connection"], "upgrade")
}

func headerHasToken(vv []string, token string) bool { return h1.HeaderHasToken(vv, token) }

func hopByHop(k string) bool { return h1.HopByHop(k) }

// connectionTokens returns the header names listed in Connection, which
// are hop-by-hop too; nil when there are none (the common case).
func connectionTokens(h http.Header) map[string]bool {
	vv := h["Connection"]
	if len(vv) == 0 {
		return nil
	}
	var m map[string]bool
	for _, v := range vv {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "" || strings.EqualFold(t, "close") || strings.EqualFold(t, "keep-alive") || strings.EqualFold(t, "upgrade") {
				continue
			}
			if m == nil {
				m = map[string]bool{}
			}
			m[http.CanonicalHeaderKey(t)] = true
		}
	}
	return m
}

func (up *Upstream) get(ctx context.Context) (*pconn, bool, error) {
	now := up.o.Now()
	up.mu.Lock()
	for n := len(up.idle); n > 0; n = len(up.idle) {
		pc := up.idle[n-1]
		up.idle[n-1] = nil
		up.idle = up.idle[:n-1]
		if now.Sub(pc.idleSince) < up.o.IdleConnTimeout {
			up.mu.Unlock()
			return pc, true, nil
		}
		pc.conn.Close()
	}
	up.mu.Unlock()
	c, err := up.dialer.DialContext(ctx, "tcp", up.addr)
	if err != nil {
		return nil, false, err
	}
	c = h1.NewRawConn(c, up.bp)
	return &pconn{conn: c, br: bufio.NewReaderSize(c, 8<<10), bw: bufio.NewWriterSize(c, 8<<10)}, false, nil
}

func (up *Upstream) put(pc *pconn) {
	pc.idleSince = up.o.Now()
	up.mu.Lock()
	if len(up.idle) < up.o.MaxIdleConns {
		up.idle = append(up.idle, pc)
		up.mu.Unlock()
		return
	}
	up.mu.Unlock()
	pc.conn.Close()
}

// replayable reports whether a request may be sent again after a reused
// connection turned out dead: no body, and an idempotent method.
func replayable(r *http.Request) bool {
	if r.Body != nil && r.Body != http.NoBody {
		return false
	}
	switch r.Method {
	case "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	return len(r.Header["Idempotency-Key"]) > 0 || len(r.Header["X-Idempotency-Key"]) > 0
}

var aLongTimeAgo = h1.ALongTimeAgo

// errBadGateway is what the client sees when the upstream cannot be reached.
func badGateway(w http.ResponseWriter, err error) {
	h := w.Header()
	h["Content-Type"] = []string{"text/plain; charset=utf-8"}
	h["X-Content-Type-Options"] = []string{"nosniff"}
	w.WriteHeader(http.StatusBadGateway)
	fmt.Fprintf(w, "chaosgen: upstream: %v\n", err)
}

func (up *Upstream) serveH1(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var (
		pc   *pconn
		resp *http.Response
		err  error
	)
	var stop func() bool
	for attempt := 0; ; attempt++ {
		var reused bool
		pc, reused, err = up.get(ctx)
		if err != nil {
			break
		}
		// A client that goes away unblocks the upstream exchange.
		// (A request's context can only end while a fault runs; without
		// one it is never cancelled and nothing needs to watch it.)
		conn := pc.conn
		stop = nil
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, func() { conn.SetDeadline(aLongTimeAgo) })
		}
		err = writeRequest(pc.bw, r, up.target.Host, false)
		if err == nil {
			// Peek waits for the response's first bytes, usually all of its head.
			if _, err = pc.br.Peek(1); err == nil {
				if pc.respHdr == nil {
					pc.respHdr = make(http.Header, 16)
				}
				if resp = h1.ReadResponse(pc.br, r, &pc.resp, pc.respHdr, &pc.body); resp == nil {
					resp, err = readResponse(pc.br, r)
				}
			}
		}
		if err == nil {
			break
		}
		if stop != nil {
			stop()
		}
		pc.conn.Close()
		if !reused || attempt > 0 || !replayable(r) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return // the client went away; nobody to answer
		}
		up.o.Logger.Debug("upstream request failed", "err", err)
		badGateway(w, err)
		return
	}
	ok := false
	defer func() { // also when copyResponse aborts the handler
		if stop != nil && !stop() { // the deadline was set: the connection cannot be reused
			ok = false
		}
		if ok && !resp.Close {
			up.put(pc)
		} else {
			pc.conn.Close()
		}
	}()
	ok = up.copyResponse(w, resp, pc)
}

// writeRequest writes r to an upstream HTTP/1.1 connection: request line,
// Host, the end-to-end headers, X-Forwarded-For with the client appended,
// the body's framing (Content-Length or chunked, from r.ContentLength:
// never the client's Content-Length header, which would go out twice),
// the body.
func writeRequest(bw *bufio.Writer, r *http.Request, defHost string, upgrade bool) error {
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' && uri != "*" {
		uri = r.URL.RequestURI()
	}
	host := r.Host
	if host == "" {
		host = defHost
	}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	skip := connectionTokens(r.Header)
	for k, vv := range r.Header {
		switch {
		case hopByHop(k), skip != nil && skip[k]:
			continue
		case len(k) == 6 && k == "Expect", len(k) == 4 && k == "Host", len(k) == 14 && k == "Content-Length":
			continue // the framing is written below
		case len(k) == 15 && k == "X-Forwarded-For":
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	var prior []string
	if skip == nil || !skip["X-Forwarded-For"] {
		prior = r.Header["X-Forwarded-For"]
	}
	if xff := forwardedFor(prior, r.RemoteAddr); xff != "" {
		bw.WriteString("X-Forwarded-For: ")
		bw.WriteString(xff)
		bw.WriteString("\r\n")
	}
	if upgrade {
		bw.WriteString("Connection: Upgrade\r\n")
		for _, v := range r.Header["Upgrade"] {
			bw.WriteString("Upgrade: ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	// An HTTP/2 request with Content-Length 0 has a non-nil empty body.
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	switch {
	case !hasBody:
		switch r.Method {
		case "POST", "PUT", "PATCH":
			bw.WriteString("Content-Length: 0\r\n")
		}
		bw.WriteString("\r\n")
	case r.ContentLength > 0:
		bw.WriteString("Content-Length: ")
		var num [20]byte
		bw.Write(strconv.AppendInt(num[:0], r.ContentLength, 10))
		bw.WriteString("\r\n\r\n")
		bp := bufPool.Get().(*[]byte)
		n, err := io.CopyBuffer(writerOnly{bw}, io.LimitReader(r.Body, r.ContentLength), *bp)
		bufPool.Put(bp)
		if err != nil {
			return fmt.Errorf("reading the request body: %w", err)
		}
		if n != r.ContentLength {
			return fmt.Errorf("request body: read %d of %d bytes", n, r.ContentLength)
		}
	default:
		bw.WriteString("Transfer-Encoding: chunked\r\n\r\n")
		bp := bufPool.Get().(*[]byte)
		err := writeChunked(bw, r.Body, *bp)
		bufPool.Put(bp)
		if err != nil {
			return err
		}
	}
	return bw.Flush()
}

// writerOnly hides bufio.Writer's ReadFrom, so CopyBuffer uses our buffer.
type writerOnly struct{ io.Writer }

func writeChunked(bw *bufio.Writer, body io.Reader, buf []byte) error {
	for {
		n, err := body.Read(buf)
		if n > 0 {
			bw.WriteString(strconv.FormatInt(int64(n), 16))
			bw.WriteString("\r\n")
			bw.Write(buf[:n])
			bw.WriteString("\r\n")
			if ferr := bw.Flush(); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			_, err := bw.WriteString("0\r\n\r\n")
			return err
		}
		if err != nil {
			return fmt.Errorf("reading the request body: %w", err)
		}
	}
}

// readResponse reads the upstream's response, skipping 1xx interim
// responses other than 101.
func readResponse(br *bufio.Reader, r *http.Request) (*http.Response, error) {
	for {
		resp, err := http.ReadResponse(br, r)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
	}
}

// copyResponse sends the upstream response to the client, streaming the
// body, then the trailers. A body of unknown length is flushed whenever
// the proxy has sent all it got and would wait for more (always, for
// text/event-stream), so streams flow and a response that arrived whole
// keeps its framing. It reports whether the body was read to its end, so
// the upstream connection can be reused.
func (up *Upstream) copyResponse(w http.ResponseWriter, resp *http.Response, pc *pconn) bool {
	h := w.Header()
	skip := connectionTokens(resp.Header)
	for k, vv := range resp.Header {
		if hopByHop(k) || skip != nil && skip[k] {
			continue
		}
		h[k] = vv
	}
	// net/http would add these when missing; the client sees what the upstream sent.
	if _, ok := resp.Header["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	if _, ok := resp.Header["Date"]; !ok {
		h["Date"] = nil
	}
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h["Trailer"] = []string{strings.Join(keys, ", ")}
	}
	w.WriteHeader(resp.StatusCode)
	if resp.Body == nil || resp.Body == http.NoBody {
		return true
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var flusher http.Flusher
	always := false
	if resp.ContentLength < 0 {
		flusher, _ = w.(http.Flusher)
		always = strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
	}
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return false
			}
			if flusher != nil && (always || rerr == nil && pc.br.Buffered() == 0) {
				flusher.Flush()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			up.o.Logger.Debug("upstream response body", "err", rerr)
			// The client gets a short body; abort so it knows.
			panic(http.ErrAbortHandler)
		}
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
	return true
}

// serveH2 forwards a gRPC request over h2c and copies the response,
// flushing every message, and the trailers (grpc-status).
func (up *Upstream) serveH2(w http.ResponseWriter, r *http.Request) {
	out := r.Clone(r.Context())
	out.URL.Scheme = "http"
	out.URL.Host = up.target.Host
	out.RequestURI = ""
	te := headerHasToken(r.Header["Te"], "trailers")
	skip := connectionTokens(r.Header)
	for k := range out.Header {
		if hopByHop(k) || skip != nil && skip[k] {
			delete(out.Header, k)
		}
	}
	if te {
		out.Header["Te"] = []string{"trailers"}
	}
	var prior []string
	if skip == nil || !skip["X-Forwarded-For"] {
		prior = r.Header["X-Forwarded-For"]
	}
	if xff := forwardedFor(prior, r.RemoteAddr); xff != "" {
		out.Header["X-Forwarded-For"] = []string{xff}
	}
	if r.ContentLength == 0 && r.Body != nil {
		out.Body = http.NoBody
	}
	resp, err := up.h2.RoundTrip(out)
	if err != nil {
		if r.Context().Err() != nil {
			return
		}
		badGateway(w, err)
		return
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, vv := range resp.Header {
		if !hopByHop(k) {
			h[k] = vv
		}
	}
	if _, ok := resp.Header["Content-Type"]; !ok {
		h["Content-Type"] = nil
	}
	if _, ok := resp.Header["Date"]; !ok {
		h["Date"] = nil
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		n, rerr := resp.Body.Read(*bp)
		if n > 0 {
			if _, werr := w.Write((*bp)[:n]); werr != nil {
				return
			}
			rc.Flush()
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			panic(http.ErrAbortHandler)
		}
	}
	for k, vv := range resp.Trailer {
		h[http.TrailerPrefix+k] = vv
	}
}

// serveUpgrade passes an upgrade (websocket) through: the handshake is
// forwarded, and after 101 Switching Protocols the two connections are
// spliced byte for byte until either side closes.
func (up *Upstream) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := up.dialer.DialContext(ctx, "tcp", up.addr)
	if err != nil {
		badGateway(w, err)
		return
	}
	defer c.Close()
	pc := &pconn{conn: c, br: bufio.NewReader(c), bw: bufio.NewWriter(c)}
	if err := writeRequest(pc.bw, r, up.target.Host, true); err != nil {
		badGateway(w, err)
		return
	}
	resp, err := readResponse(pc.br, r)
	if err != nil {
		badGateway(w, err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
		up.copyResponse(w, resp, pc)
		stop()
		return
	}
	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		badGateway(w, fmt.Errorf("cannot take over the client connection: %w", err))
		return
	}
	defer client.Close()
	brw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	resp.Header.Write(brw)
	brw.WriteString("\r\n")
	if err := brw.Flush(); err != nil {
		return
	}
	errc := make(chan error, 2)
	go func() { // client -> upstream, starting with what the server already buffered
		_, err := io.Copy(c, io.MultiReader(io.LimitReader(brw.Reader, int64(brw.Reader.Buffered())), client))
		closeWrite(c)
		errc <- err
	}()
	go func() { // upstream -> client
		_, err := io.Copy(client, pc.br)
		closeWrite(client)
		errc <- err
	}()
	<-errc
	<-errc
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
}
