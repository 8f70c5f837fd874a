// Package prefault allocates slices that are about to be written in full
// with their pages already mapped: one system call for a slice's pages
// instead of one page fault for each.
//
// A page fresh from the kernel is mapped on its first access, a fault
// that costs far more than the write it interrupts (on the VM of
// docs/scale.md about 11 µs a 4 KiB page, of which the fault itself, which
// madvise(MADV_POPULATE_WRITE) takes in one call for the whole range, is
// about 5 µs). Decoding a partial analysis allocates tens of megabytes of
// accumulators at once and writes them all, so it faults in thousands of
// pages one by one without it.
package prefault

import "unsafe"

// minBytes is the smallest slice worth a system call: below it Make only
// allocates.
const minBytes = 64 << 10

// Make returns make([]T, n), its memory faulted in for writing first where
// the system can do that in one call (Linux 5.14 and later); elsewhere, or
// when the call fails, it is a plain make. The contents are zero either
// way: prefaulting maps pages, it writes nothing.
func Make[T any](n int) []T {
	s := make([]T, n)
	var zero T
	if size := uintptr(n) * unsafe.Sizeof(zero); size >= minBytes {
		populate(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), size))
	}
	return s
}
