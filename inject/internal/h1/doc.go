// Package h1 is the proxy's own HTTP/1.1 transport: a server that reads
// plain HTTP/1.1 requests on one goroutine per connection and hands every
// other connection (h2c, HTTP/1.0, Expect, Upgrade, CONNECT, heads it
// declines) to a standard http.Server; the fast request and response
// parsers with the checks net/http's server makes; raw socket I/O with
// optional busy polling on Linux. Package inject uses it through a small
// surface: NewServer (Serve, Shutdown, Close, Collectors), Limits,
// NewBusyPoll, NewRawConn and ReadResponse for the upstream side, and the
// header helpers both sides share. A response writer of Server implements
// WatchClient(cancel), which calls cancel when the client goes away.
package h1
