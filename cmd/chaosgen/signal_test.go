package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds chaosgen into dir, for tests that need a process to
// send signals to.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "chaosgen")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// temps lists the temporary files and directories atomicfile leaves in
// dir, recursively.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp-") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// isOpen reports whether process pid has path open (Linux /proc).
func isOpen(pid int, path string) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == path {
			return true
		}
	}
	return false
}

// TestSignalRemovesTemporaryFiles interrupts synth, import, replay and
// analyze mid-run with SIGINT or SIGTERM and checks that each exits 130 and
// leaves no temporary file and no output, and that a previous output is
// still whole. import reads a FIFO nobody writes to, so it never returns by
// itself: the command layer removes its file after the grace period.
func TestSignalRemovesTemporaryFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED: builds the binary and runs it (-short)")
	}
	dir := t.TempDir()
	bin := buildBinary(t, dir)
	work := filepath.Join(dir, "work")
	os.MkdirAll(work, 0o755)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = work
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("synth", "-o", "in/spans.parquet", "--days", "0.2", "--rps", "10", "--services", "10")
	run("analyze", "in/spans.parquet", "-o", "prev/analysis", "--no-models")
	before, err := os.ReadFile(filepath.Join(work, "prev/analysis/summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(work, "in/traces.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		args    []string
		sig     syscall.Signal
		waitFor string // a temporary file to wait for before the signal; "" waits for the input to be open
		outputs []string
	}{
		{"synth", []string{"synth", "-o", "out/spans.parquet", "--days", "30", "--rps", "50"}, syscall.SIGINT, "out/.spans.parquet.tmp-", []string{"out/spans.parquet", "out/truth.json"}},
		{"import", []string{"import", "in/traces.json", "-o", "imp/spans.parquet"}, syscall.SIGTERM, "imp/.spans.parquet.tmp-", []string{"imp/spans.parquet"}},
		{"replay", []string{"replay", "in/spans.parquet", "-o", "rep/replay", "--load-factor", "0.5"}, syscall.SIGINT, "rep/.replay.tmp-", []string{"rep/replay"}},
		{"analyze", []string{"analyze", "in/spans.parquet", "-o", "prev/analysis"}, syscall.SIGINT, "", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(bin, c.args...)
			cmd.Dir = work
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
				if c.waitFor == "" {
					// analyze writes its temporary directory last: wait
					// until it reads its input (the signal handler is in
					// place by then).
					if isOpen(cmd.Process.Pid, filepath.Join(work, "in/spans.parquet")) {
						break
					}
				} else if m, _ := filepath.Glob(filepath.Join(work, c.waitFor+"*")); len(m) > 0 {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no %s* after 60 s", c.waitFor)
				}
			}
			cmd.Process.Signal(c.sig)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 130 {
				t.Errorf("exit: %v, want 130; stderr:\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), "partial output removed") {
				t.Errorf("stderr does not say the partial output was removed:\n%s", stderr.String())
			}
			if left := temps(t, work); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
			for _, p := range c.outputs {
				if _, err := os.Stat(filepath.Join(work, p)); !os.IsNotExist(err) {
					t.Errorf("%s exists after the signal", p)
				}
			}
		})
	}
	if after, err := os.ReadFile(filepath.Join(work, "prev/analysis/summary.json")); err != nil || string(after) != string(before) {
		t.Errorf("the interrupted analyze changed the previous analysis: %v", err)
	}
}
