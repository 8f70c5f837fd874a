// Package shared locates the project's large shared data sets (../shared
// beside the repository) for tests.
//
// Tests that need them call Path. When the directory is missing they
// skip with a message that names the file and where it was looked for (`make
// test` lists every skipped test and its message at the end of the run), so
// `make test` passes on a fresh clone; when the
// environment variable CHAOSGEN_REQUIRE_SHARED=1 is set (as .ci/run does),
// a missing directory fails the test instead, so CI can never skip them.
package shared

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EnvRequire is the environment variable that turns a skip into a failure.
const EnvRequire = "CHAOSGEN_REQUIRE_SHARED"

// EnvDir overrides the location of the shared directory.
const EnvDir = "CHAOSGEN_SHARED"

// Root returns the shared directory and whether it exists.
func Root() (string, bool) {
	if d := os.Getenv(EnvDir); d != "" {
		fi, err := os.Stat(d)
		return d, err == nil && fi.IsDir()
	}
	_, file, _, _ := runtime.Caller(0)
	// internal/shared/shared.go -> repository root -> ../shared
	d := filepath.Join(filepath.Dir(file), "..", "..", "..", "shared")
	d = filepath.Clean(d)
	fi, err := os.Stat(d)
	return d, err == nil && fi.IsDir()
}

// Path returns the path of rel inside the shared directory, or skips (fails
// under CHAOSGEN_REQUIRE_SHARED=1) when it is absent.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	root, ok := Root()
	p := filepath.Join(root, rel)
	if ok {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("SKIPPED: shared data %s is not available (looked in %s); set %s to its location", rel, root, EnvDir)
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatalf("%s, and %s=1 forbids skipping", msg, EnvRequire)
	}
	tb.Skip(msg)
	return ""
}
