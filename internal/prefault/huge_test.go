package prefault

import "testing"

// TestHugeHeapOff checks that the environment variable turns HugeHeap off.
func TestHugeHeapOff(t *testing.T) {
	t.Setenv(HugeHeapEnv, "off")
	if HugeHeap(64 << 20) {
		t.Errorf("HugeHeap advised memory with %s=off", HugeHeapEnv)
	}
}
