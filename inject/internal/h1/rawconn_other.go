//go:build !linux

package h1

import "net"

// NewRawConn returns c: raw socket I/O is used on Linux only.
func NewRawConn(c net.Conn, _ *BusyPoll) net.Conn { return c }

// stopPolling does nothing: there is no busy polling off Linux.
func stopPolling(net.Conn) {}
