//go:build !linux

package inject

import "net"

// newRawConn returns c: raw socket I/O is used on Linux only.
func newRawConn(c net.Conn) net.Conn { return c }
