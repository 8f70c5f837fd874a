package prefault

import (
	"runtime"
	"syscall"
	"testing"
)

// threadFaults returns the minor page faults of the calling thread.
func threadFaults(t *testing.T) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// touch writes one byte in each page of b and returns the page faults it
// took.
func touch(t *testing.T, b []byte) int64 {
	before := threadFaults(t)
	writePages(b)
	return threadFaults(t) - before
}

// writePages writes one byte in each page of b.
func writePages(b []byte) {
	for i := 0; i < len(b); i += int(pageSize) {
		b[i] = 1
	}
}

// TestMakeFaultsPagesIn checks that the pages of a slice from Make are
// mapped already: writing them faults (nearly) none, where writing those
// of a plain make of the same size faults each.
func TestMakeFaultsPagesIn(t *testing.T) {
	if raceDetector {
		t.Skip("SKIPPED: under the race detector every first write faults in shadow memory, so page faults cannot tell prefaulted pages (make test runs this test without it)")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const size = 64 << 20
	pages := int64(size / pageSize)
	plain := make([]byte, size)
	n := touch(t, plain)
	t.Logf("writing the %d pages of a plain make: %d page faults", pages, n)
	if n < pages/2 {
		t.Skipf("SKIPPED: a plain make of %d MiB faulted %d of its %d pages (its memory was mapped already), so the test cannot tell", size>>20, n, pages)
	}
	b := make([]byte, size)
	if !populate(b) {
		t.Skip("SKIPPED: the kernel refuses MADV_POPULATE_WRITE (Linux before 5.14)")
	}
	if n := touch(t, b); n > pages/100 {
		t.Errorf("writing %d prefaulted pages faulted %d times", pages, n)
	} else {
		t.Logf("writing them prefaulted: %d page faults", n)
	}
	c := Make[byte](size)
	if n := touch(t, c); n > pages/100 {
		t.Errorf("writing the %d pages of Make's slice faulted %d times", pages, n)
	}
	runtime.KeepAlive(plain)
}
