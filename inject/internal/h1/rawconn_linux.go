package h1

import (
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// rawConn reads and writes a TCP connection with raw system calls on its
// non-blocking socket, waiting in the runtime's netpoller (deadlines
// apply) when the socket is not ready. A plain net.Conn call enters the
// scheduler's syscall state, and on a proxy that goes idle between
// requests every such entry wakes the runtime's sysmon thread (which then
// polls for a while): a futex wake-up and a thread's CPU time per request,
// on the path of each request. Reads and writes of a socket that is ready
// do not block, so they need no syscall state.
type rawConn struct {
	net.Conn
	rc syscall.RawConn

	rp   []byte // read in progress
	rn   int
	rerr error
	rfn  func(fd uintptr) bool

	bp      *BusyPoll // nil: park at once
	backoff int       // waits left without polling
	polled  bool      // this Read has polled

	wp   []byte // write in progress
	wn   int
	werr error
	wfn  func(fd uintptr) bool
}

// NewRawConn wraps c, or returns it as is when it has no raw socket. bp,
// when not nil, lets its reads poll before they park (see BusyPoll).
func NewRawConn(c net.Conn, bp *BusyPoll) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawConn{Conn: c, rc: rc, bp: bp}
	r.rfn = r.doRead
	r.wfn = r.doWrite
	return r
}

// readFD reads fd once into r.rp (again after EINTR); it reports false when
// the socket has no data (EAGAIN).
func (r *rawConn) readFD(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&r.rp[0])), uintptr(len(r.rp)))
		switch e {
		case 0:
			r.rn = int(n)
			if n == 0 {
				r.rerr = io.EOF
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.rerr = os.NewSyscallError("read", e)
		return true
	}
}

// doRead is the read function given to the runtime: false parks the
// goroutine until the socket is readable. The first time a Read finds the
// socket empty it may poll (see BusyPoll) before parking.
func (r *rawConn) doRead(fd uintptr) bool {
	if r.readFD(fd) {
		return true
	}
	if r.bp == nil || r.polled {
		return false
	}
	r.polled = true
	return r.poll(fd)
}

// poll reads fd until data (or an error) comes or the budget is spent, if
// the policy allows polling now; it reports whether the read is complete.
func (r *rawConn) poll(fd uintptr) bool {
	if r.backoff > 0 {
		r.backoff--
		return false
	}
	bp := r.bp
	if !bp.acquire() {
		return false
	}
	defer bp.release()
	start := time.Now()
	for {
		if r.readFD(fd) {
			bp.hits.Add(1)
			return true
		}
		if time.Since(start) >= bp.budget {
			r.backoff = pollBackoff
			bp.misses.Add(1)
			return false
		}
		if bp.inflight.Load() > 1 {
			bp.misses.Add(1)
			return false // another request came in
		}
	}
}

func (r *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.rp, r.rn, r.rerr, r.polled = p, 0, nil, false
	err := r.rc.Read(r.rfn)
	n := r.rn
	if err == nil {
		err = r.rerr
	}
	r.rp, r.rerr = nil, nil
	if err != nil && err != io.EOF {
		err = &net.OpError{Op: "read", Net: "tcp", Source: r.LocalAddr(), Addr: r.RemoteAddr(), Err: err}
	}
	return n, err
}

func (r *rawConn) doWrite(fd uintptr) bool {
	for r.wn < len(r.wp) {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&r.wp[r.wn])), uintptr(len(r.wp)-r.wn))
		switch e {
		case 0:
			r.wn += int(n)
			continue
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.werr = os.NewSyscallError("write", e)
		return true
	}
	return true
}

func (r *rawConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.wp, r.wn, r.werr = p, 0, nil
	err := r.rc.Write(r.wfn)
	n := r.wn
	if err == nil {
		err = r.werr
	}
	r.wp, r.werr = nil, nil
	if err != nil {
		err = &net.OpError{Op: "write", Net: "tcp", Source: r.LocalAddr(), Addr: r.RemoteAddr(), Err: err}
	}
	return n, err
}

// CloseWrite half-closes the connection (the websocket splice uses it).
func (r *rawConn) CloseWrite() error {
	if cw, ok := r.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return r.Conn.Close()
}

// stopPolling makes c's reads park at once and leave the busy-poll
// accounting (for a connection handed to net/http).
func stopPolling(c net.Conn) {
	if r, ok := c.(*rawConn); ok {
		r.bp = nil
	}
}
