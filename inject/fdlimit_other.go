//go:build !unix

package inject

func openFileLimit() uint64 { return 0 }
