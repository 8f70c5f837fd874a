// Command importchain writes one OTLP JSON trace whose spans form a single
// chain: each SERVER span is the child of the one before, in the other of
// two services, so every span is a call one hop deeper than its parent.
// run.sh imports such chains and reports peak memory: the importer must
// stay linear in the spans however deep the chain.
//
//	go run ./bench/importchain -spans 200000 > chain.json
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
)

func main() {
	n := flag.Int("spans", 200000, "spans in the chain")
	flag.Parse()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	const base = 1700000000000000000
	fmt.Fprint(w, `{"resourceSpans":[`)
	for r, svc := range []string{"svc-a", "svc-b"} {
		if r > 0 {
			fmt.Fprint(w, ",")
		}
		fmt.Fprintf(w, `{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":%q}}]},"scopeSpans":[{"spans":[`, svc)
		first := true
		for i := r; i < *n; i += 2 {
			if !first {
				fmt.Fprint(w, ",")
			}
			first = false
			parent := ""
			if i > 0 {
				parent = fmt.Sprintf(`"parentSpanId":"%016x",`, i)
			}
			fmt.Fprintf(w, `{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"%016x",%s"name":"op","kind":2,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"}`,
				i+1, parent, base+i*1000, base+i*1000+1e9)
		}
		fmt.Fprint(w, "]}]}")
	}
	fmt.Fprintln(w, "]}")
}
