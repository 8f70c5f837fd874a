package prefault

import (
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"unsafe"
)

// HugeHeapEnv names the environment variable that turns HugeHeap off
// when set to "off".
const HugeHeapEnv = "CHAOSGEN_HUGEPAGES"

// HugeHeap asks the kernel to back the next n bytes the Go heap grows
// into with transparent huge pages, and reports whether it did. Each
// 2 MiB of heap then costs one page fault instead of 512: on the VM of
// docs/scale.md a 4 KiB fault costs about 11 µs, and an analysis that
// peaks at 250 MiB of heap takes about 60,000 of them, a fifth of its CPU.
//
// Go maps its heap without asking for huge pages, so on the common
// setting where the kernel gives them only to memory that asks
// (/sys/kernel/mm/transparent_hugepage/enabled is "madvise") the heap
// gets none. HugeHeap allocates n bytes, which maps them but touches
// none, advises them MADV_HUGEPAGE, and frees them again: the runtime
// hands out free heap lowest address first, so the allocations that
// follow land in the advised range, and the advice stays with the
// mapping after the memory is freed and reused.
//
// It does nothing, and reports false, unless the setting is "madvise"
// (under "always" the heap has huge pages already, under "never" it
// cannot have them), on systems other than 64-bit Linux, where the kernel
// commits memory strictly (vm.overcommit_memory = 2: the n bytes would
// count against the commit limit although never touched), or when the
// environment variable CHAOSGEN_HUGEPAGES is "off". Call it once, at
// the start of a batch command that is about to grow its heap to
// hundreds of megabytes; not in a long-running server, whose freed
// memory the runtime returns to the kernel in pieces smaller than a huge
// page, splitting them.
//
// Only the first call acts; later ones report its result.
func HugeHeap(n int) bool {
	hugeOnce.Do(func() { _, _, hugeOK = hugeHeap(n) })
	return hugeOK
}

var (
	hugeOnce sync.Once
	hugeOK   bool
)

// hugeHeap is HugeHeap; it also returns the advised address range
// [lo, hi), for the test. (Addresses, not a slice: a slice would keep the
// memory from being freed.)
func hugeHeap(n int) (lo, hi uintptr, ok bool) {
	if n < hugePage || unsafe.Sizeof(uintptr(0)) < 8 || os.Getenv(HugeHeapEnv) == "off" || thpMode() != "madvise" || strictOvercommit() {
		return 0, 0, false
	}
	b := make([]byte, n)
	lo, hi, ok = adviseHuge(b)
	runtime.KeepAlive(b)
	b = nil
	// Free the range at once and mark it returned to the kernel (it was
	// never touched: a collection of the small heap a command starts with
	// and madvise calls over empty page tables, about 2 ms each), so that
	// the allocations that follow reuse it and the background scavenger
	// has nothing of it to return later.
	debug.FreeOSMemory()
	return lo, hi, ok
}

// hugePage is the size of a transparent huge page on amd64 and arm64
// with 4 KiB base pages.
const hugePage = 2 << 20
