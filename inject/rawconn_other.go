//go:build !linux

package inject

import "net"

// newRawConn returns c: raw socket I/O is used on Linux only.
func newRawConn(c net.Conn, _ *busyPoll) net.Conn { return c }

// stopPolling does nothing: there is no busy polling off Linux.
func stopPolling(net.Conn) {}
