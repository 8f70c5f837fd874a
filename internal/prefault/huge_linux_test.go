package prefault

import (
	"os"
	"runtime"
	"syscall"
	"testing"
	"unsafe"

	"github.com/chaosgen/chaosgen/internal/testchild"
)

// hugeChildEnv marks the process TestHugeHeap starts to run HugeHeap in a
// heap of its own: the advice changes where later allocations land and
// how they fault, which would upset the other tests of the package.
const hugeChildEnv = "PREFAULT_HUGE_HEAP_CHILD"

// inChild reports whether this process is the child that runs test t
// with HugeHeap in a heap of its own (env is set); if not, it runs that
// child, fails t when the child fails, and reports false.
func inChild(t *testing.T, env string) bool {
	if os.Getenv(env) != "" {
		return true
	}
	if raceDetector {
		t.Skip("SKIPPED: under the race detector every first write faults in shadow memory, so page faults cannot tell huge pages (make test runs this test without it)")
	}
	if mode := thpMode(); mode != "madvise" {
		t.Skipf("SKIPPED: transparent huge pages are %q here; HugeHeap acts only under \"madvise\"", mode)
	}
	if _, err := testchild.Run(t, 0, env+"=1"); err != nil {
		t.Fatalf("the child running HugeHeap failed: %v", err)
	}
	return false
}

// TestHugeHeap checks that a slice allocated after HugeHeap lies in the
// advised range and that writing it faults (nearly) once per huge page,
// not once per page.
func TestHugeHeap(t *testing.T) {
	if !inChild(t, hugeChildEnv) {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	lo, hi, ok := hugeHeap(256 << 20)
	if !ok {
		t.Fatal("hugeHeap(256 MiB) advised nothing")
	}
	t.Logf("advised %#x-%#x (%d MiB)", lo, hi, (hi-lo)>>20)
	const size = 64 << 20
	b := make([]byte, size)
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if p < lo || p+size > hi {
		t.Fatalf("a %d MiB slice allocated after HugeHeap lies at %#x-%#x, outside the advised range", size>>20, p, p+size)
	}
	pages := int64(size / pageSize)
	n := touch(t, b)
	t.Logf("writing its %d pages: %d page faults", pages, n)
	// One fault per huge page, except in the huge pages at either end of
	// the slice, which it may share with heap already faulted in page by
	// page: those fault in 4 KiB at a time, up to 511 each.
	small := int64(hugePage / pageSize)
	if limit := size/hugePage + 2*small + 64; n > limit {
		t.Errorf("writing %d pages of advised heap faulted %d times; huge pages would fault at most %d", pages, n, limit)
	}
	runtime.KeepAlive(b)
}

// garbageChildEnv marks the process TestHugeHeapAfterGarbage starts.
const garbageChildEnv = "PREFAULT_HUGE_GARBAGE_CHILD"

// TestHugeHeapAfterGarbage checks that HugeHeap touches none of the memory
// it advises when the heap already holds garbage: freed pages that were
// written, at its top, where the runtime puts the next large allocation.
// The runtime clears a large allocation that starts on such pages, all of
// it; a single allocation of the whole range then wrote every page of it
// (a gigabyte of resident memory, and seconds of page faults, in about 1
// of 75 runs of a small analyze).
func TestHugeHeapAfterGarbage(t *testing.T) {
	if !inChild(t, garbageChildEnv) {
		return
	}
	// garbage at the top of the heap: written, then freed (and not
	// returned to the kernel)
	g := make([]byte, 16<<20)
	writePages(g)
	g = nil
	runtime.GC()
	const n = 256 << 20
	before := processFaults(t)
	lo, hi, ok := hugeHeap(n)
	faults := processFaults(t) - before
	if !ok {
		t.Fatal("hugeHeap advised nothing")
	}
	t.Logf("advised %#x-%#x (%d MiB) with %d page faults", lo, hi, (hi-lo)>>20, faults)
	if hi-lo < n {
		t.Errorf("advised %d MiB, want at least %d", (hi-lo)>>20, n>>20)
	}
	// writing the range would fault once per 4 KiB page: 65,536 times
	if limit := int64(n / pageSize / 100); faults > limit {
		t.Errorf("hugeHeap(%d MiB) faulted %d times, more than %d: it wrote the memory it only meant to advise", n>>20, faults, limit)
	}
}

// processFaults returns the minor page faults of the process.
func processFaults(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// TestHugeHeapSettings checks that HugeHeap reads the kernel's settings
// right: it acts only under "madvise", and never under strict overcommit.
func TestHugeHeapSettings(t *testing.T) {
	oldTHP, oldOvercommit := thpSetting, overcommitSetting
	t.Cleanup(func() { thpSetting, overcommitSetting = oldTHP, oldOvercommit })
	dir := t.TempDir()
	write := func(name, content string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for content, want := range map[string]string{
		"always [madvise] never\n": "madvise",
		"[always] madvise never\n": "always",
		"always madvise [never]\n": "never",
		"garbage\n":                "",
	} {
		thpSetting = write("enabled", content)
		if got := thpMode(); got != want {
			t.Errorf("thpMode of %q = %q, want %q", content, got, want)
		}
	}
	thpSetting = dir + "/missing"
	if got := thpMode(); got != "" {
		t.Errorf("thpMode without the file = %q", got)
	}
	for content, want := range map[string]bool{"0\n": false, "1\n": false, "2\n": true} {
		overcommitSetting = write("overcommit", content)
		if got := strictOvercommit(); got != want {
			t.Errorf("strictOvercommit of %q = %v, want %v", content, got, want)
		}
	}
	// under "madvise" but strict overcommit, nothing is advised
	thpSetting = write("enabled", "always [madvise] never\n")
	overcommitSetting = write("overcommit", "2\n")
	if _, _, ok := hugeHeap(64 << 20); ok {
		t.Error("hugeHeap advised memory under strict overcommit")
	}
}
