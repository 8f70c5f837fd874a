// Package testserver runs a real server binary for a test: found on PATH
// or in $GOPATH/bin, started on a loopback port, stopped when the test ends.
//
// When the binary is missing the test skips with a message that says
// SKIPPED, what the server is and how to install it; under
// CHAOSGEN_REQUIRE_SHARED=1 or CI (as .ci/run runs) it fails instead, so CI
// never skips it.
package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
)

// Store is a real object store server that a test started: versitygw
// (s3test) or fake-gcs-server (gcstest).
type Store interface {
	// URL returns the URL of bucket/key that chaosgen opens, with the
	// query the server needs.
	URL(bucket, key string) string
	MakeBucket(t testing.TB, bucket string)
	// Put uploads a local file to bucket/key through the store's API.
	Put(t testing.TB, bucket, key, file string)
}

// Binary returns the path of the program name, or skips (fails under CI)
// naming what it is and the install command.
func Binary(t testing.TB, name, what, install string) string {
	t.Helper()
	if p, ok := find(name); ok {
		return p
	}
	msg := fmt.Sprintf("SKIPPED: %s (%s) is not on PATH or in $GOPATH/bin; install with: %s", name, what, install)
	if os.Getenv("CHAOSGEN_REQUIRE_SHARED") == "1" || os.Getenv("CI") != "" {
		t.Fatal(strings.Replace(msg, "SKIPPED", "FAILED", 1) + " (CI and CHAOSGEN_REQUIRE_SHARED=1 forbid skipping)")
	}
	t.Skip(msg)
	return ""
}

func find(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	return "", false
}

// Addr returns a loopback address with a port that was free a moment ago.
func Addr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start runs bin with args and returns once addr accepts connections (at
// most 15 s; the server's output is in the failure). The process is
// killed and waited for when the test ends.
func Start(t testing.TB, bin, addr string, args ...string) {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	name := filepath.Base(bin)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("%s exited before listening: %v\n%s", name, err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not listen on %s within 15 s:\n%s", name, addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Upload writes the local file to key in the bucket that bucketURL opens
// (whose driver the caller imports), through the store's API.
func Upload(t testing.TB, bucketURL, key, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, bucketURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, key, data, nil); err != nil {
		t.Fatalf("uploading %s to %s as %s: %v", file, bucketURL, key, err)
	}
}

// Download copies every object under the prefix that prefixURL names
// (scheme://bucket/prefix/?query, opened with the driver the caller
// imports) into dir, each at its key relative to the prefix, through the
// store's API, and returns those keys, sorted (listing order).
func Download(t testing.TB, prefixURL, dir string) []string {
	t.Helper()
	u, err := url.Parse(prefixURL)
	if err != nil {
		t.Fatal(err)
	}
	prefix := strings.TrimPrefix(u.Path, "/")
	u.Path = ""
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return keys
		}
		if err != nil {
			t.Fatalf("listing %s: %v", prefixURL, err)
		}
		if obj.IsDir {
			continue
		}
		data, err := b.ReadAll(ctx, obj.Key)
		if err != nil {
			t.Fatalf("downloading %s from %s: %v", obj.Key, prefixURL, err)
		}
		rel := strings.TrimPrefix(obj.Key, prefix)
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, rel)
	}
}

// DelayProxy listens on a loopback port and forwards every connection to
// target, holding each chunk of bytes the client sends for delay before
// passing it on: each request to a server behind it takes delay longer,
// as across a network with that latency (loopback has none, and this
// machine's kernel lacks netem). It returns the address to dial instead
// of target and stops when the test ends.
func DelayProxy(t testing.TB, target string, delay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() {
					io.Copy(c, s)
					c.Close()
				}()
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						time.Sleep(delay)
						if _, werr := s.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}
