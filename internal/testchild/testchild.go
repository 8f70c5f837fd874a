// Package testchild runs the test that calls it again, in a process of
// its own: for what a process can do only once (read its credentials,
// advise its heap) or must not do beside the other tests.
package testchild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Run runs t's top-level test again in a child process of the test
// binary, with env ("NAME=value") added to this process's environment,
// waiting for it at most timeout (0: without bound). The child tells
// itself apart by env. Run logs the child's output and returns it, with
// an error when the child failed or did not report the test as passed.
func Run(t testing.TB, timeout time.Duration, env ...string) ([]byte, error) {
	t.Helper()
	name, _, _ := strings.Cut(t.Name(), "/")
	ctx := context.Background()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+name+"$", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err == nil && !strings.Contains(string(out), "--- PASS: "+name) {
		err = fmt.Errorf("the child did not report %s as passed", name)
	}
	return out, err
}
