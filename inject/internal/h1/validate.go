package h1

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/textproto"
	"strings"
)

// What net/http's server checks on a request after http.ReadRequest has
// parsed it (net/http/server.go, conn.readRequest), for the requests that
// Server's fast parser declines and http.ReadRequest reads:
// http.ReadRequest alone forwards header names such as
// "Transfer-Encoding " (a space before the colon, which a tolerant upstream
// may take for Transfer-Encoding: a request-smuggling primitive), Host
// values with spaces or bytes outside ASCII, and a request without a Host
// header whose target is in absolute form. FuzzParseRequestDifferential
// holds the proxy's server to net/http's decisions.

// errBadRequest wraps what makes Server answer 400.
type errBadRequest struct{ err error }

func (e errBadRequest) Error() string { return "bad request: " + e.err.Error() }
func (e errBadRequest) Unwrap() error { return e.err }

var (
	errMissingHost   = errors.New("missing required Host header")
	errMalformedHost = errors.New("malformed Host header")
	errHeaderName    = errors.New("invalid header name")
	errHeaderValue   = errors.New("invalid header value")
)

// headerHosts returns the Host header values of a request head (request
// line, header lines, blank line) as textproto would read them: names
// matched case-insensitively, values trimmed of spaces and tabs, continued
// lines (obs-fold) joined.
func headerHosts(head []byte) []string {
	i := bytes.IndexByte(head, '\n')
	if i < 0 {
		return nil
	}
	rest := head[i+1:]
	if bytes.Contains(rest, []byte("\n ")) || bytes.Contains(rest, []byte("\n\t")) ||
		len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\t') {
		// Continued lines: rare; let textproto join them.
		tp := textproto.NewReader(bufio.NewReader(bytes.NewReader(head)))
		if _, err := tp.ReadLine(); err != nil {
			return nil
		}
		h, _ := tp.ReadMIMEHeader()
		return h["Host"]
	}
	var hosts []string
	for len(rest) > 0 {
		j := bytes.IndexByte(rest, '\n')
		if j < 0 {
			break
		}
		line := rest[:j]
		rest = rest[j+1:]
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			break // the blank line ends the head
		}
		k := bytes.IndexByte(line, ':')
		if k != 4 || !asciiEqualFold(line[:4], "host") {
			continue
		}
		hosts = append(hosts, trimOWS(string(line[k+1:])))
	}
	return hosts
}

// checkRequest applies net/http's server checks to a request read by
// http.ReadRequest; hosts are its Host header values (headerHosts), which
// http.ReadRequest removes from the header.
func checkRequest(req *http.Request, hosts []string) error {
	if req.ProtoAtLeast(1, 1) && len(hosts) == 0 && req.Method != "CONNECT" {
		return errBadRequest{errMissingHost}
	}
	if len(hosts) == 1 && !validHostHeader(hosts[0]) {
		return errBadRequest{errMalformedHost}
	}
	for _, v := range hosts {
		if !validHeaderFieldValue(v) {
			return errBadRequest{errHeaderValue}
		}
	}
	for k, vv := range req.Header {
		if !validHeaderFieldName(k) {
			return errBadRequest{errHeaderName}
		}
		for _, v := range vv {
			if !validHeaderFieldValue(v) {
				return errBadRequest{errHeaderValue}
			}
		}
	}
	return nil
}

var (
	tokenByte     [256]bool // RFC 9110 tchar
	validHostByte [256]bool // as golang.org/x/net/http/httpguts
)

func init() {
	for c := 0; c < 256; c++ {
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		tokenByte[c] = alnum || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
		validHostByte[c] = alnum || strings.IndexByte("!$%&()*+,-.:;=[']_~", byte(c)) >= 0
	}
}

func validHeaderFieldName(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !tokenByte[v[i]] {
			return false
		}
	}
	return true
}

// validHeaderFieldValue refuses control bytes other than tab.
func validHeaderFieldValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func validHostHeader(h string) bool {
	for i := 0; i < len(h); i++ {
		if !validHostByte[h[i]] {
			return false
		}
	}
	return true
}
