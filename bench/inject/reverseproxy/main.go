// Command reverseproxy is the baseline of bench/inject/run.sh: a plain
// httputil.ReverseProxy with a tuned Transport (keep-alive pool sized for the
// benchmark, no compression), to compare chaosgen inject's proxy with what
// the standard library gives.
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18084", "address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:18080", "upstream base URL")
	flag.Parse()
	u, err := url.Parse(*upstream)
	if err != nil {
		log.Fatal(err)
	}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	log.Fatal(http.ListenAndServe(*listen, p))
}
