package prefault

import (
	"bytes"
	"os"
)

// madvHugepage is MADV_HUGEPAGE, the same number on every architecture.
const madvHugepage = 14

// thpSetting is where Linux says when anonymous memory gets transparent
// huge pages: "always", "madvise" or "never", the chosen one in brackets.
var thpSetting = "/sys/kernel/mm/transparent_hugepage/enabled"

// overcommitSetting is the kernel's policy for committing memory: "2"
// (strict) counts every writable mapping against a limit at once.
var overcommitSetting = "/proc/sys/vm/overcommit_memory"

// strictOvercommit reports whether the kernel commits memory strictly,
// where mapping a gigabyte the process may never touch can exhaust the
// commit limit and the runtime dies of it.
func strictOvercommit() bool {
	b, err := os.ReadFile(overcommitSetting)
	return err == nil && string(bytes.TrimSpace(b)) == "2"
}

// thpMode returns the chosen transparent huge page setting, or "" when it
// cannot be read (a kernel without them, or no /sys).
func thpMode() string {
	b, err := os.ReadFile(thpSetting)
	if err != nil {
		return ""
	}
	i := bytes.IndexByte(b, '[')
	j := bytes.IndexByte(b, ']')
	if i < 0 || j < i {
		return ""
	}
	return string(b[i+1 : j])
}

// adviseHuge advises the huge pages that the address range [start, end)
// touches MADV_HUGEPAGE and returns their range [lo, hi). The range is
// rounded out to whole huge pages: the heap is mapped in 4 MiB-aligned
// pieces, so the rounding stays within the heap's mapping, and the huge
// page that the range shares with the objects before or after it is worth
// advising too.
func adviseHuge(start, end uintptr) (lo, hi uintptr, ok bool) {
	lo = start &^ (hugePage - 1)
	hi = (end + hugePage - 1) &^ (hugePage - 1)
	return lo, hi, madvise(lo, hi-lo, madvHugepage) == 0
}
