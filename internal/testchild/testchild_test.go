package testchild

import (
	"os"
	"strings"
	"testing"
)

// childEnv tells TestRun's child what to do: "pass" or "fail".
const childEnv = "TESTCHILD_TEST_CHILD"

// TestRun: a child that passes gives no error and its output; one that
// fails gives an error; the child sees the environment it was given.
func TestRun(t *testing.T) {
	switch os.Getenv(childEnv) {
	case "pass":
		t.Log("child ran")
		return
	case "fail":
		t.Fatal("child failed on purpose")
	}
	out, err := Run(t, 0, childEnv+"=pass")
	if err != nil || !strings.Contains(string(out), "child ran") {
		t.Errorf("a passing child: %v\n%s", err, out)
	}
	if _, err := Run(t, 0, childEnv+"=fail"); err == nil {
		t.Error("a failing child gave no error")
	}
}
