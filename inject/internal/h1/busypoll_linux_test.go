package h1

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"
)

// connPair returns a rawConn with busy-poll policy bp (its server side)
// and the plain client side of a loopback TCP connection.
func connPair(t *testing.T, bp *BusyPoll) (*rawConn, net.Conn) {
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
	r, ok := NewRawConn(server, bp).(*rawConn)
	if !ok {
		t.Fatal("NewRawConn did not wrap a TCP connection")
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

func checkIdle(t *testing.T, bp *BusyPoll) {
	t.Helper()
	if s := bp.spinning.Load(); s != 0 {
		t.Errorf("after the read: spinning %d, want 0", s)
	}
}

func TestRawConnBusyPoll(t *testing.T) {
	// polling needs two Ps (see BusyPoll), and so does the writer goroutine
	// while the read polls
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	// a budget far longer than the writer's delay, so that a busy machine
	// does not turn the hit into a miss
	bp := NewBusyPoll(time.Second)
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

func TestBusyPollNeedsTwoProcs(t *testing.T) {
	bp := NewBusyPoll(time.Millisecond)
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
