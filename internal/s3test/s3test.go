// Package s3test starts a real S3-compatible server for tests: versitygw
// with its posix backend on a temporary directory, on a loopback port.
//
// Tests that need it call Start. When the versitygw binary is missing (on
// PATH or in $GOPATH/bin) they skip with a message saying how to install
// it; under CHAOSGEN_REQUIRE_SHARED=1 or CI (as .ci/run runs) they fail
// instead, so CI never skips them.
package s3test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/s3blob" // s3://
)

// Install is the command that installs the server binary.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Credentials of the server's root account.
const (
	AccessKey = "chaosgen-test"
	SecretKey = "chaosgen-test-secret-0123456789"
	Region    = "us-east-1"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is its base URL, http://127.0.0.1:PORT.
	Endpoint string
	// Root is the directory the posix backend serves: one folder per bucket.
	Root string
}

// binary finds versitygw on PATH or in $GOPATH/bin.
func binary() (string, bool) {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, true
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, true
		}
	}
	return "", false
}

// Start runs versitygw for the test and sets the AWS environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION; shared config
// files pointed at nothing) to its root account. It stops the server when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, ok := binary()
	if !ok {
		msg := "SKIPPED: versitygw (a real S3-compatible server) is not on PATH or in $GOPATH/bin; install with: " + Install
		if os.Getenv("CHAOSGEN_REQUIRE_SHARED") == "1" || os.Getenv("CI") != "" {
			t.Fatal(strings.Replace(msg, "SKIPPED", "FAILED", 1) + " (CI and CHAOSGEN_REQUIRE_SHARED=1 forbid skipping)")
		}
		t.Skip(msg)
	}
	root := t.TempDir()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", addr, "--quiet", "posix", root)
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
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("versitygw exited before listening: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw did not listen on %s within 15 s:\n%s", addr, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_ENDPOINT_URL", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(root, ".no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(root, ".no-aws-credentials"))
	return &Server{Endpoint: "http://" + addr, Root: root}
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Query is the URL query that points gocloud's s3blob at the server.
func (s *Server) Query() string {
	return "endpoint=" + url.QueryEscape(s.Endpoint) + "&use_path_style=true&region=" + Region
}

// URL returns s3://bucket/key with the server's query.
func (s *Server) URL(bucket, key string) string {
	return "s3://" + bucket + "/" + key + "?" + s.Query()
}

// MakeBucket creates an empty bucket (a folder of the posix backend).
func (s *Server) MakeBucket(t testing.TB, bucket string) {
	t.Helper()
	if err := os.Mkdir(filepath.Join(s.Root, bucket), 0o755); err != nil {
		t.Fatal(err)
	}
}

// Put uploads the local file to bucket/key through the S3 API.
func (s *Server) Put(t testing.TB, bucket, key, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := blob.OpenBucket(ctx, "s3://"+bucket+"?"+s.Query())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.WriteAll(ctx, key, data, nil); err != nil {
		t.Fatalf("uploading %s to s3://%s/%s: %v", file, bucket, key, err)
	}
}
