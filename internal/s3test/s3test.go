// Package s3test starts a real S3-compatible server for tests: versitygw
// with its posix backend on a temporary directory, on a loopback port.
//
// Tests that need it call Start. When the versitygw binary is missing (on
// PATH or in $GOPATH/bin) they skip with a message saying how to install
// it; under CHAOSGEN_REQUIRE_SHARED=1 or CI (as .ci/run runs) they fail
// instead, so CI never skips them (internal/testserver).
package s3test

import (
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/chaosgen/chaosgen/internal/testserver"
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

// Start runs versitygw for the test and sets the AWS environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION; shared config
// files pointed at nothing) to its root account. It stops the server when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := testserver.Binary(t, "versitygw", "a real S3-compatible server", Install)
	root := t.TempDir()
	addr := testserver.Addr(t)
	testserver.Start(t, bin, addr, "--access", AccessKey, "--secret", SecretKey, "--region", Region,
		"--port", addr, "--quiet", "posix", root)
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
	testserver.Upload(t, "s3://"+bucket+"?"+s.Query(), key, file)
}
