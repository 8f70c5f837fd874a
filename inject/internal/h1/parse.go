package h1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// The proxy's no-fault path parses request and response heads itself, for
// the common case only, without net/http's allocations: the head is one
// string and the header values are pieces of it. Whatever the fast parsers
// do not accept outright (a byte outside their narrow sets, obs-fold,
// Transfer-Encoding, Content-Length on a request, a repeated, unusual or
// missing Content-Length on a response, Trailer, Pragma,
// 1xx, 204 and 304 responses, HEAD) is left in the buffer for
// http.ReadRequest or http.ReadResponse, so they accept or reject it
// exactly as before.

var (
	// header name bytes the fast path takes: letters, digits, '-'
	fastKeyByte [256]bool
	// header value bytes: visible ASCII, space, tab, obs-text
	fastValueByte [256]bool
	// request path bytes that url.ParseRequestURI keeps as they are
	// (RawPath empty): letters, digits, -_.~$&+,/:;=@
	fastPathByte [256]bool
	// query bytes: visible ASCII but '#'
	fastQueryByte [256]bool
	// Host header bytes
	fastHostByte [256]bool
)

func init() {
	for c := 0; c < 256; c++ {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		fastKeyByte[c] = alnum || c == '-'
		fastValueByte[c] = c == '\t' || c >= 0x20 && c != 0x7f
		fastPathByte[c] = alnum || strings.IndexByte("-_.~$&+,/:;=@", byte(c)) >= 0
		fastQueryByte[c] = c > 0x20 && c < 0x7f && c != '#'
		fastHostByte[c] = alnum || strings.IndexByte("-._:[]", byte(c)) >= 0
	}
}

// fastHeader is what parseFastHeader noticed on the way.
type fastHeader struct {
	host    int    // Host fields
	hostVal string // the first
	cl      int    // Content-Length fields
	clVal   string
	te      bool // Transfer-Encoding, Pragma or Trailer present
	conn    bool // Connection present
}

// parseFastHeader parses header lines, each ending CRLF (the blank line
// excluded), into h like textproto.Reader.ReadMIMEHeader. ok false: the
// fast path does not take them.
func parseFastHeader(s string, h http.Header, fh *fastHeader) bool {
	n := strings.Count(s, "\n")
	if n == 0 {
		return true
	}
	strs := make([]string, n)
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 1 || s[i-1] != '\r' {
			return false
		}
		line := s[:i-1]
		s = s[i+1:]
		colon := strings.IndexByte(line, ':')
		if colon <= 0 {
			return false // also obs-fold: a leading space is no name byte
		}
		key, ok := fastCanonicalKey(line[:colon])
		if !ok {
			return false
		}
		raw := line[colon+1:]
		for j := 0; j < len(raw); j++ {
			if !fastValueByte[raw[j]] {
				return false
			}
		}
		v := trimOWS(raw)
		switch key {
		case "Host":
			fh.host++
			if fh.host == 1 {
				fh.hostVal = v
			}
		case "Content-Length":
			fh.cl++
			fh.clVal = v
		case "Transfer-Encoding", "Pragma", "Trailer":
			fh.te = true
		case "Connection":
			fh.conn = true
		}
		if vv := h[key]; vv != nil {
			h[key] = append(vv, v)
			continue
		}
		strs[0] = v
		h[key] = strs[:1:1]
		strs = strs[1:]
	}
	return true
}

// trimOWS trims spaces and tabs, as textproto does.
func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// fastCanonicalKey returns k in canonical form (as
// textproto.CanonicalMIMEHeaderKey) when it has only fast-path bytes.
func fastCanonicalKey(k string) (string, bool) {
	canonical := true
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !fastKeyByte[c] {
			return "", false
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			canonical = false
		}
		upper = c == '-'
	}
	if canonical {
		return k, true
	}
	return http.CanonicalHeaderKey(k), true
}

// parseRequestFast parses a request head: the request line and header
// lines, each ending CRLF, without the blank line, into the connection's
// reused request, URL and header. nil: the fast path does not take it.
func parseRequestFast(head []byte, req *http.Request, u *url.URL, h http.Header) *http.Request {
	i := bytes.IndexByte(head, '\n')
	if i < 0 {
		return nil
	}
	line := head[:i+1]
	const proto = " HTTP/1.1\r\n"
	if !bytes.HasSuffix(line, []byte(proto)) {
		return nil
	}
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 || sp+1 > len(line)-len(proto) { // "A HTTP/1.1": the method's space is the protocol's
		return nil
	}
	for _, c := range line[:sp] {
		if c < 'A' || c > 'Z' {
			return nil
		}
	}
	target := line[sp+1 : len(line)-len(proto)]
	if len(target) == 0 || target[0] != '/' || len(target) > 1 && target[1] == '/' {
		return nil
	}
	q := bytes.IndexByte(target, '?')
	pathEnd := len(target)
	if q >= 0 {
		pathEnd = q
		for _, c := range target[q+1:] {
			if !fastQueryByte[c] || c == '?' {
				return nil
			}
		}
	}
	for _, c := range target[:pathEnd] {
		if !fastPathByte[c] {
			return nil
		}
	}
	s := string(head)
	method := s[:sp]
	uri := s[sp+1 : sp+1+len(target)]
	*u = url.URL{Path: uri[:pathEnd]}
	if q >= 0 {
		u.RawQuery = uri[q+1:]
		u.ForceQuery = u.RawQuery == ""
	}
	clear(h)
	var fh fastHeader
	if !parseFastHeader(s[i+1:], h, &fh) || fh.te || fh.cl > 0 || fh.host != 1 || fh.hostVal == "" {
		return nil
	}
	for j := 0; j < len(fh.hostVal); j++ {
		if !fastHostByte[fh.hostVal[j]] {
			return nil
		}
	}
	delete(h, "Host") // as http.ReadRequest does
	*req = http.Request{
		Method:     internMethod(method),
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       fh.hostVal,
		RequestURI: uri,
		Close:      fh.conn && HeaderHasToken(h["Connection"], "close"),
	}
	return req
}

func internMethod(m string) string {
	switch m {
	case "GET":
		return "GET"
	case "POST":
		return "POST"
	case "HEAD":
		return "HEAD"
	case "PUT":
		return "PUT"
	case "DELETE":
		return "DELETE"
	}
	return m
}

// ReadResponse reads a response head that is in br's buffer whole, for
// the common case: HTTP/1.1, a status of 200-599 other than 204 and 304, one
// plain Content-Length, no Transfer-Encoding, Trailer or Pragma,
// not for a HEAD request. nil: nothing was read, http.ReadResponse is to
// read it. resp, h and body are the pconn's, reused.
func ReadResponse(br *bufio.Reader, req *http.Request, resp *http.Response, h http.Header, body *Body) *http.Response {
	if req.Method == "HEAD" {
		return nil
	}
	b, _ := br.Peek(br.Buffered())
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return nil
	}
	head := b[:end+2]
	i := bytes.IndexByte(head, '\n')
	line := head[:i+1]
	const proto = "HTTP/1.1 "
	if len(line) < len(proto)+5 || !bytes.HasPrefix(line, []byte(proto)) || line[len(line)-2] != '\r' {
		return nil
	}
	st := line[len(proto) : len(line)-2]
	if len(st) > 3 && st[3] != ' ' {
		return nil
	}
	code := 0
	for _, c := range st[:3] {
		if c < '0' || c > '9' {
			return nil
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 || code == 204 || code == 304 {
		return nil
	}
	for _, c := range st {
		if !fastValueByte[c] || c == '\t' {
			return nil
		}
	}
	// http.ReadResponse would trim a trailing space of the reason.
	if st[len(st)-1] == ' ' {
		return nil
	}
	s := string(head)
	clear(h)
	var fh fastHeader
	if !parseFastHeader(s[i+1:], h, &fh) || fh.te || fh.cl != 1 {
		return nil
	}
	n, ok := parseContentLength(fh.clVal)
	if !ok {
		return nil
	}
	br.Discard(end + 4)
	*resp = http.Response{
		Status:        s[len(proto) : i-1],
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		ContentLength: n,
		Request:       req,
		Body:          http.NoBody,
	}
	if fh.conn && HeaderHasToken(h["Connection"], "close") {
		resp.Close = true // and, as http.ReadResponse does:
		delete(h, "Connection")
	}
	if n > 0 {
		*body = Body{br: br, n: n}
		resp.Body = body
	}
	return resp
}

// parseContentLength takes a plain decimal Content-Length.
func parseContentLength(v string) (int64, bool) {
	if v == "" || len(v) > 18 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// Body reads a response body of a known length from the upstream
// connection's buffer.
type Body struct {
	br *bufio.Reader
	n  int64
}

func (b *Body) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.br.Read(p)
	b.n -= int64(n)
	if b.n == 0 {
		return n, io.EOF
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *Body) Close() error { return nil }
