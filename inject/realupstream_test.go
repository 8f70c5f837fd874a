package inject

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle/bundletest"
)

// requireTool returns the path of a program the test runs. Without it the
// test skips loudly, or fails when CHAOSGEN_REQUIRE_SHARED=1 (as in CI,
// which installs it).
func requireTool(t *testing.T, name, aptPackage string, extra ...string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	for _, e := range extra {
		if err != nil {
			if _, serr := os.Stat(e); serr == nil {
				p, err = e, nil
			}
		}
	}
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("SKIPPED: %s is not on PATH (apt-get install %s); the test against a real %s upstream did not run", name, aptPackage, name)
	if os.Getenv("CHAOSGEN_REQUIRE_SHARED") == "1" {
		t.Fatalf("%s, and CHAOSGEN_REQUIRE_SHARED=1 forbids skipping", msg)
	}
	fmt.Fprintln(os.Stderr, "!!! "+msg)
	t.Skip(msg)
	return ""
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProcess runs cmd until the test ends and waits until addr accepts
// connections.
func startProcess(t *testing.T, cmd *exec.Cmd, addr string) {
	t.Helper()
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s: %v\n%s", cmd.Path, addr, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// nginxUpstream runs nginx answering "<method> <content length>".
func nginxUpstream(t *testing.T) string {
	bin := requireTool(t, "nginx", "nginx", "/usr/sbin/nginx")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	server {
		listen %[2]s;
		location / {
			default_type text/plain;
			return 200 "$request_method $content_length\n";
		}
	}
}
`, dir, addr)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startProcess(t, exec.Command(bin, "-c", filepath.Join(dir, "nginx.conf"), "-p", dir, "-e", filepath.Join(dir, "error.log")), addr)
	return "http://" + addr
}

// nodeUpstream runs a Node.js http server answering "<method> <body
// bytes read>".
func nodeUpstream(t *testing.T) string {
	bin := requireTool(t, "node", "nodejs")
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	script := fmt.Sprintf(`require("http").createServer((req, res) => {
	let n = 0;
	req.on("data", (c) => { n += c.length; });
	req.on("end", () => { res.setHeader("content-type", "text/plain"); res.end(req.method + " " + n + "\n"); });
}).listen(%s, "127.0.0.1");`, mustPort(addr))
	startProcess(t, exec.Command(bin, "-e", script), addr)
	return "http://" + addr
}

func mustPort(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestRealUpstreams: POST and PUT with a body through the proxy to real
// nginx and Node.js servers, over HTTP/1.1 and h2c (both answered 400 to
// every such request while the proxy sent Content-Length twice).
func TestRealUpstreams(t *testing.T) {
	for name, start := range map[string]func(*testing.T) string{"nginx": nginxUpstream, "node": nodeUpstream} {
		t.Run(name, func(t *testing.T) {
			up := start(t)
			px, _ := proxyFor(t, bundletest.Bundle(), Options{Service: "cart"}, up)
			clients := map[string]*http.Client{"http1": {Transport: &http.Transport{}}, "h2c": h2cClient()}
			for cname, c := range clients {
				for _, method := range []string{"POST", "PUT", "GET"} {
					body := ""
					if method != "GET" {
						body = "hello world"
					}
					var rd io.Reader
					if body != "" {
						rd = strings.NewReader(body)
					}
					req, _ := http.NewRequest(method, px.URL+"/items", rd)
					resp, err := c.Do(req)
					if err != nil {
						t.Fatalf("%s %s: %v", cname, method, err)
					}
					got, _ := bufio.NewReader(resp.Body).ReadString('\n')
					resp.Body.Close()
					want := fmt.Sprintf("%s %d\n", method, len(body))
					if name == "nginx" && body == "" {
						want = method + " \n" // no Content-Length header
					}
					if resp.StatusCode != 200 || got != want {
						t.Errorf("%s %s through the proxy: %d %q, want 200 %q", cname, method, resp.StatusCode, got, want)
					}
				}
			}
		})
	}
}
