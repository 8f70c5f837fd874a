// Package gcstest starts a real Google Cloud Storage server for tests:
// fake-gcs-server, which speaks GCS's JSON and XML APIs, with its
// filesystem backend on a temporary directory, on a loopback port, over
// plain HTTP.
//
// Tests that need it call Start. When the fake-gcs-server binary is
// missing they skip with a message saying how to install it; under
// CHAOSGEN_REQUIRE_SHARED=1 or CI they fail instead (internal/testserver).
package gcstest

import (
	"context"
	"net"
	"path/filepath"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/chaosgen/chaosgen/internal/testserver"
	_ "gocloud.dev/blob/gcsblob" // gs://
)

// Install is the command that installs the server binary.
const Install = "go install github.com/fsouza/fake-gcs-server@v1.56.1"

// Server is a running fake-gcs-server.
type Server struct {
	// Endpoint is its base URL, http://127.0.0.1:PORT.
	Endpoint string
	// Root is the directory the filesystem backend keeps: one folder per
	// bucket.
	Root string
}

// Start runs fake-gcs-server for the test and points the GCS client
// libraries at it: STORAGE_EMULATOR_HOST, which cloud.google.com/go/storage
// and gocloud's gcsblob honour (no credentials are looked up while it is
// set). It stops the server when the test ends.
func Start(t testing.TB) *Server { return start(t, "filesystem") }

// StartInMemory is Start with the server's memory backend, which keeps the
// noncurrent generations of objects in a bucket with object versioning
// (MakeVersionedBucket); the filesystem backend keeps none.
func StartInMemory(t testing.TB) *Server { return start(t, "memory") }

func start(t testing.TB, backend string) *Server {
	t.Helper()
	bin := testserver.Binary(t, "fake-gcs-server", "a real Google Cloud Storage server", Install)
	root := t.TempDir()
	addr := testserver.Addr(t)
	host, port, _ := net.SplitHostPort(addr)
	testserver.Start(t, bin, addr, "-scheme", "http", "-host", host, "-port", port,
		"-backend", backend, "-filesystem-root", filepath.Join(root, "storage"),
		// no seed data (its default, /data, would load whatever is there)
		"-data", filepath.Join(root, "no-seed-data"),
		// the XML API's downloads (the client's reads) name the server
		// as host:port, and uploads return their session URL on it
		"-public-host", addr, "-external-url", "http://"+addr,
		"-log-level", "error")
	t.Setenv("STORAGE_EMULATOR_HOST", addr)
	t.Setenv("STORAGE_EMULATOR_HOST_GRPC", "")
	return &Server{Endpoint: "http://" + addr, Root: filepath.Join(root, "storage")}
}

// URL returns gs://bucket/key (the server comes from the environment).
func (s *Server) URL(bucket, key string) string { return "gs://" + bucket + "/" + key }

// MakeBucket creates an empty bucket through the JSON API.
func (s *Server) MakeBucket(t testing.TB, bucket string) { s.makeBucket(t, bucket, nil) }

// MakeVersionedBucket creates an empty bucket with object versioning: an
// object replaced keeps its old generation, readable by number.
func (s *Server) MakeVersionedBucket(t testing.TB, bucket string) {
	s.makeBucket(t, bucket, &storage.BucketAttrs{VersioningEnabled: true})
}

func (s *Server) makeBucket(t testing.TB, bucket string, attrs *storage.BucketAttrs) {
	t.Helper()
	ctx := context.Background()
	c, err := storage.NewClient(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Bucket(bucket).Create(ctx, "chaosgen-test", attrs); err != nil {
		t.Fatalf("creating bucket %s: %v", bucket, err)
	}
}

// Put uploads the local file to bucket/key through the GCS API.
func (s *Server) Put(t testing.TB, bucket, key, file string) {
	t.Helper()
	testserver.Upload(t, "gs://"+bucket, key, file)
}
