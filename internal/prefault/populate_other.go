//go:build !linux

package prefault

// populate does nothing where there is no MADV_POPULATE_WRITE.
func populate([]byte) bool { return false }
