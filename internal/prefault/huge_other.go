//go:build !linux

package prefault

// thpMode is "" where there are no transparent huge pages to ask for.
func thpMode() string { return "" }

// strictOvercommit is false where HugeHeap does nothing anyway.
func strictOvercommit() bool { return false }

// adviseHuge does nothing where there is no MADV_HUGEPAGE.
func adviseHuge(start, end uintptr) (lo, hi uintptr, ok bool) { return 0, 0, false }
