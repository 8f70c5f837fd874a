package h1

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// The fast parsers either agree with net/http's or leave the head to it.
func TestParseRequestFast(t *testing.T) {
	heads := []string{
		"GET /x HTTP/1.1\r\nHost: a\r\n",
		"GET /x?y=1&z=%41 HTTP/1.1\r\nHost: a:80\r\nUser-Agent: t\r\naccept: */*\r\nX-A: 1\r\nx-a:  2 \t\r\n",
		"GET /a? HTTP/1.1\r\nHost: a\r\n",
		"POST /p HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX: caf\xc3\xa9\r\n",
		// left to net/http:
		"GET /x HTTP/1.1\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n",
		"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX : a\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX\x01: a\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nno colon\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nPragma: no-cache\r\n",
		"GET /%41 HTTP/1.1\r\nHost: a\r\n",
		"GET //x HTTP/1.1\r\nHost: a\r\n",
		"GET http://b/x HTTP/1.1\r\nHost: a\r\n",
		"get /x HTTP/1.1\r\nHost: a\r\n",
		"GET  /x HTTP/1.1\r\nHost: a\r\n",
		"GET /x#f HTTP/1.1\r\nHost: a\r\n",
		"GET /x HTTP/1.1\r\nHost: a b\r\n",
		"GET /x HTTP/1.1\r\nHost:\r\n",
		"GET /x HTTP/1.1\r\nHo_st: a\r\nHost: a\r\n",
	}
	for _, head := range heads {
		var req http.Request
		var u url.URL
		got := parseRequestFast([]byte(head), &req, &u, http.Header{"Stale": {"x"}})
		want, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head + "\r\n")))
		if got == nil {
			if strings.HasSuffix(head, "Host: a\r\n") && strings.Count(head, "\n") == 2 && strings.HasPrefix(head, "GET /x ") {
				t.Errorf("%q: not taken", head)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: fast path took what ReadRequest refuses: %v", head, err)
			continue
		}
		if want.Body != http.NoBody || want.ContentLength != 0 {
			t.Errorf("%q: ReadRequest sees a body", head)
		}
		want.Body = http.NoBody
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %#v\nwant %#v", head, got, want)
		}
		if !reflect.DeepEqual(got.URL, want.URL) {
			t.Errorf("%q: URL\n got %#v\nwant %#v", head, got.URL, want.URL)
		}
	}
}

func TestReadResponseFast(t *testing.T) {
	resps := []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: keep-alive\r\nServer: nginx\r\n\r\n",
		"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nConnection: close\r\nx-a: 1\r\nX-A: 2\r\n\r\nabc",
		"HTTP/1.1 200\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 599 Whatever Reason\r\nContent-Length: 3\r\n\r\nabc",
		// left to net/http:
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nabc",
		"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX: a\r\n b\r\n\r\nabc",
		"HTTP/1.1 2000 OK\r\nContent-Length: 3\r\n\r\nabc",
	}
	req := &http.Request{Method: "GET"}
	for _, s := range resps {
		br := bufio.NewReader(strings.NewReader(s))
		br.Peek(1)
		var resp http.Response
		var body Body
		got := ReadResponse(br, req, &resp, http.Header{"Stale": {"x"}}, &body)
		if got == nil {
			if br.Buffered() != len(s) {
				t.Errorf("%q: refused but read", s)
			}
			continue
		}
		gotBody, err := io.ReadAll(got.Body)
		if err != nil {
			t.Errorf("%q: %v", s, err)
		}
		want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(s)), req)
		if err != nil {
			t.Errorf("%q: fast path took what ReadResponse refuses: %v", s, err)
			continue
		}
		wantBody, _ := io.ReadAll(want.Body)
		if string(gotBody) != string(wantBody) {
			t.Errorf("%q: body %q, want %q", s, gotBody, wantBody)
		}
		got.Body, want.Body = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q:\n got %#v\nwant %#v", s, got, want)
		}
	}
}
