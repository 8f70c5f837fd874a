package main

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/testchild"
)

// hugeHeapChildEnv marks the process TestBatchCommandsAdviseHugePages
// starts, so that the advice lands in a heap no other test shares.
const hugeHeapChildEnv = "CHAOSGEN_TEST_HUGE_HEAP_CHILD"

// TestBatchCommandsAdviseHugePages runs analyze in a process of its own
// and checks that it left a mapping of at least hugeHeapBytes advised for
// huge pages ("hg" in /proc/self/smaps), and that with CHAOSGEN_HUGEPAGES=off
// it left none.
func TestBatchCommandsAdviseHugePages(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SKIPPED: transparent huge pages are a Linux feature")
	}
	if mode := os.Getenv(hugeHeapChildEnv); mode != "" {
		code, _, stderr := runCLI("analyze", filepath.Join("..", "..", "analysis", "testdata", "synth-seed7.parquet"), "-o", t.TempDir(), "--no-models")
		if code != 0 {
			t.Fatalf("analyze: exit %d: %s", code, stderr)
		}
		got := advisedHuge(t)
		t.Logf("mappings advised for huge pages: %d bytes", got)
		if mode == "on" && got < hugeHeapBytes {
			t.Errorf("analyze advised %d bytes of its heap for huge pages, want at least %d", got, hugeHeapBytes)
		}
		if mode == "off" && got != 0 {
			t.Errorf("with CHAOSGEN_HUGEPAGES=off analyze advised %d bytes for huge pages", got)
		}
		return
	}
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil || !bytes.Contains(b, []byte("[madvise]")) {
		t.Skipf("SKIPPED: transparent huge pages are not set to madvise here (%q, %v): the commands advise nothing", bytes.TrimSpace(b), err)
	}
	for _, mode := range []string{"on", "off"} {
		env := []string{hugeHeapChildEnv + "=" + mode}
		if mode == "off" {
			env = append(env, "CHAOSGEN_HUGEPAGES=off")
		}
		if out, err := testchild.Run(t, 0, env...); err != nil {
			t.Errorf("%s: %v\n%s", mode, err, out)
		}
	}
}

// advisedHuge returns the bytes of this process's mappings that carry
// MADV_HUGEPAGE.
func advisedHuge(t *testing.T) int64 {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var total, size int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) == 3 && fields[0] == "Size:":
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatalf("/proc/self/smaps: %q: %v", sc.Text(), err)
			}
			size = kb << 10
		case len(fields) > 0 && fields[0] == "VmFlags:":
			for _, fl := range fields[1:] {
				if fl == "hg" {
					total += size
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}
