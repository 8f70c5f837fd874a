package prefault

import (
	"cmp"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
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
// [lo, hi) (the hull of the advised pieces), for the tests. (Addresses,
// not slices: a slice would keep the memory from being freed.)
//
// The n bytes are taken in pieces, not one allocation: the runtime clears
// a large allocation that starts on pages freed after use (garbage at the
// top of the heap, where the next large allocation goes), the whole of it,
// and one allocation of n bytes then wrote every page HugeHeap only means
// to advise (a gigabyte of resident memory and seconds of page faults, in
// about 1 of 75 runs of a small analyze). The first smallPieces pieces are
// one huge page each and cover such garbage (a few MiB when a command
// starts): only they are cleared, and their pages are resident already.
// The pieces after them double in size, and lie in fresh memory,
// untouched; garbage larger than the small pieces would be cleared with
// the piece that covers its end, at most twice its size.
func hugeHeap(n int) (lo, hi uintptr, ok bool) {
	if n < hugePage || unsafe.Sizeof(uintptr(0)) < 8 || os.Getenv(HugeHeapEnv) == "off" || thpMode() != "madvise" || strictOvercommit() {
		return 0, 0, false
	}
	// no collection while the pieces pile up: they are all live anyway
	gc := debug.SetGCPercent(-1)
	var pieces [][]byte
	for have := 0; have+hugePage <= n; {
		size := hugePage
		if have >= smallPieces*hugePage {
			size = max(hugePage, min(have, n-have)&^(hugePage-1))
		}
		pieces = append(pieces, make([]byte, size))
		have += size
	}
	lo, hi, ok = advisePieces(pieces)
	runtime.KeepAlive(pieces)
	pieces = nil
	debug.SetGCPercent(gc)
	// Free the range at once and mark it returned to the kernel (it was
	// never touched: a collection of the small heap a command starts with
	// and madvise calls over empty page tables, about 2 ms each), so that
	// the allocations that follow reuse it and the background scavenger
	// has nothing of it to return later.
	debug.FreeOSMemory()
	return lo, hi, ok
}

// advisePieces advises the huge pages that the pieces touch, each run of
// adjacent pieces in one call (the runtime hands them out one after the
// other, so there are few), and returns the hull [lo, hi) of the advised
// ranges; ok reports whether every call succeeded.
func advisePieces(pieces [][]byte) (lo, hi uintptr, ok bool) {
	type run struct{ start, end uintptr }
	runs := make([]run, 0, len(pieces))
	for _, p := range pieces {
		start := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
		runs = append(runs, run{start, start + uintptr(len(p))})
	}
	slices.SortFunc(runs, func(a, b run) int { return cmp.Compare(a.start, b.start) })
	ok = len(runs) > 0
	lo, hi = ^uintptr(0), 0
	for i := 0; i < len(runs); {
		j := i + 1
		for j < len(runs) && runs[j].start == runs[j-1].end {
			j++
		}
		l, h, advised := adviseHuge(runs[i].start, runs[j-1].end)
		ok = ok && advised
		lo, hi = min(lo, l), max(hi, h)
		i = j
	}
	return lo, hi, ok
}

// smallPieces is how many huge-page-sized pieces hugeHeap allocates
// before it doubles their size: the garbage a batch command starts with
// is a few MiB, which they cover, and each allocation costs about 10 µs
// (512 of them took 5-6 ms, more than the rest of hugeHeap).
const smallPieces = 16

// hugePage is the size of a transparent huge page on amd64 and arm64
// with 4 KiB base pages.
const hugePage = 2 << 20
