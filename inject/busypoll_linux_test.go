package inject

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
)

// connPair returns a rawConn with busy-poll policy bp (its server side)
// and the plain client side of a loopback TCP connection.
func connPair(t *testing.T, bp *busyPoll) (*rawConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	r, ok := newRawConn(server, bp).(*rawConn)
	if !ok {
		t.Fatal("newRawConn did not wrap a TCP connection")
	}
	return r, client
}

func writeAfter(t *testing.T, c net.Conn, d time.Duration, msg string) {
	go func() {
		time.Sleep(d)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Error(err)
		}
	}()
}

func checkIdle(t *testing.T, bp *busyPoll) {
	t.Helper()
	if s := bp.spinning.Load(); s != 0 {
		t.Errorf("after the read: spinning %d, want 0", s)
	}
}

func TestRawConnBusyPoll(t *testing.T) {
	// polling needs two Ps (see busyPoll), and so does the writer goroutine
	// while the read polls
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	// a budget far longer than the writer's delay, so that a busy machine
	// does not turn the hit into a miss
	bp := newBusyPoll(time.Second)
	bp.inflight.Store(1) // this connection's request
	r, peer := connPair(t, bp)
	buf := make([]byte, 16)

	// data that comes within the budget is read by the poll
	writeAfter(t, peer, time.Millisecond, "one")
	n, err := r.Read(buf)
	if err != nil || string(buf[:n]) != "one" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if bp.hits.Load() != 1 {
		t.Errorf("hits %d, want 1", bp.hits.Load())
	}
	if r.backoff != 0 {
		t.Errorf("backoff %d after a poll that got data", r.backoff)
	}
	checkIdle(t, bp)

	// a read that polls in vain backs off, parks, and leaves the
	// accounting clean when its deadline ends it
	bp.budget = 20 * time.Millisecond
	r.SetReadDeadline(time.Now().Add(60 * time.Millisecond))
	_, err = r.Read(buf)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read without data: %v, want a deadline error", err)
	}
	if r.backoff != pollBackoff {
		t.Errorf("backoff %d after a poll out of budget, want %d", r.backoff, pollBackoff)
	}
	if bp.misses.Load() != 1 {
		t.Errorf("misses %d, want 1", bp.misses.Load())
	}
	checkIdle(t, bp)
	r.SetReadDeadline(time.Time{})

	// backing off: the next read parks without polling, and is woken by
	// the netpoller
	hits, misses := bp.hits.Load(), bp.misses.Load()
	writeAfter(t, peer, 5*time.Millisecond, "two")
	n, err = r.Read(buf)
	if err != nil || string(buf[:n]) != "two" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if r.backoff != pollBackoff-1 || bp.hits.Load() != hits || bp.misses.Load() != misses {
		t.Errorf("backoff %d, hits %d, misses %d: want %d and no poll", r.backoff, bp.hits.Load(), bp.misses.Load(), pollBackoff-1)
	}
	checkIdle(t, bp)

	// another request in flight: no polling
	r.backoff = 0
	bp.inflight.Store(2)
	writeAfter(t, peer, 5*time.Millisecond, "three")
	n, err = r.Read(buf)
	if err != nil || string(buf[:n]) != "three" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if bp.hits.Load() != hits || bp.misses.Load() != misses {
		t.Errorf("polled while another request was in flight")
	}
	checkIdle(t, bp)

	// the peer closing is an EOF, polled or not
	bp.inflight.Store(1)
	peer.Close()
	if _, err := r.Read(buf); err != io.EOF {
		t.Errorf("read after close: %v, want EOF", err)
	}
	checkIdle(t, bp)
}

// TestBusyPollProxy runs requests through a proxy that polls, one at a time
// and concurrently, and checks the answers and that the accounting returns
// to rest.
func TestBusyPollProxy(t *testing.T) {
	up := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "ok %s", r.URL.Path)
	}))
	b := bundletest.Bundle(profile("never", "cart", 0, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 500}))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	px, _, bp := proxyWithPoll(t, b, Options{Service: "cart"}, up.URL, 5*time.Millisecond)
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	c := &http.Client{Transport: tr}
	get := func(path string) error {
		resp, err := c.Get(px.URL + path)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 || string(body) != "ok "+path {
			return fmt.Errorf("%s: %d %q", path, resp.StatusCode, body)
		}
		return nil
	}
	for i := range 200 {
		if err := get(fmt.Sprintf("/seq/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("sequential: %d polls got data, %d gave up", bp.hits.Load(), bp.misses.Load())
	if bp.hits.Load() == 0 {
		t.Errorf("200 sequential requests to a local upstream: no poll got data (misses %d)", bp.misses.Load())
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if err := get(fmt.Sprintf("/par/%d/%d", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for bp.inflight.Load() != 0 || bp.spinning.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("accounting not at rest after the clients left: in flight %d, spinning %d",
				bp.inflight.Load(), bp.spinning.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("polls: %d got data, %d gave up", bp.hits.Load(), bp.misses.Load())
}

func TestBusyPollNeedsTwoProcs(t *testing.T) {
	bp := newBusyPoll(time.Millisecond)
	bp.inflight.Store(1)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	if bp.acquire() {
		t.Error("acquire succeeded with GOMAXPROCS 1")
	}
	runtime.GOMAXPROCS(2)
	if !bp.acquire() {
		t.Error("acquire failed with GOMAXPROCS 2, one request in flight and no poller")
	}
	if bp.acquire() {
		t.Error("a second poller got in")
	}
	bp.release()
	bp.inflight.Store(2)
	if bp.acquire() {
		t.Error("acquire succeeded with two requests in flight")
	}
}
