package prefault

import (
	"runtime"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// madvPopulateWrite is MADV_POPULATE_WRITE (Linux 5.14), the same number
// on every architecture.
const madvPopulateWrite = 23

// unsupported is set once the kernel refuses the advice, so that an old
// kernel costs one failed call, not one per slice.
var unsupported atomic.Bool

var pageSize = uintptr(syscall.Getpagesize())

// populate faults in the whole pages of b for writing, and reports whether
// it did.
func populate(b []byte) bool {
	if unsupported.Load() || len(b) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	off := (start+pageSize-1)&^(pageSize-1) - start
	end := (start + uintptr(len(b))) &^ (pageSize - 1)
	if start+off >= end {
		return false
	}
	errno := madvise(start+off, end-start-off, madvPopulateWrite)
	runtime.KeepAlive(b)
	if errno == syscall.EINVAL {
		unsupported.Store(true)
	}
	return errno == 0
}

// madvise gives the kernel advice on the n bytes at addr, which the caller
// keeps alive (Go heap memory does not move).
func madvise(addr, n, advice uintptr) syscall.Errno {
	_, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, n, advice)
	return errno
}
