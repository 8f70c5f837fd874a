package h1

import (
	"strings"
	"time"
)

// HeaderHasToken reports whether one of the comma-separated values vv holds
// token, compared case-insensitively (Connection: keep-alive, Upgrade).
func HeaderHasToken(vv []string, token string) bool {
	for _, v := range vv {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// HopByHop reports whether a canonical header key is hop-by-hop (RFC 9110
// 7.6.1) or one the proxy manages itself.
func HopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// ALongTimeAgo is a deadline in the past: setting it makes a blocked read
// or write on a connection return at once.
var ALongTimeAgo = time.Unix(1, 0)
