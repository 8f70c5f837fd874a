package prefault

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// freshChildEnv makes the test binary, run by BenchmarkFreshHeap, write
// freshBytes of new heap (after HugeHeap when it says "huge") and exit.
const freshChildEnv = "PREFAULT_FRESH_HEAP_CHILD"

// freshBytes is what each child of BenchmarkFreshHeap writes: about an
// analysis's peak heap.
const freshBytes = 256 << 20

// TestMain runs the package's tests, or, in a process BenchmarkFreshHeap
// started, writes freshBytes of new heap (after HugeHeap when the mode is
// "huge") and exits.
func TestMain(m *testing.M) {
	mode := os.Getenv(freshChildEnv)
	if mode == "" {
		os.Exit(m.Run())
	}
	if mode == "huge" && !HugeHeap(1<<30) {
		fmt.Fprintln(os.Stderr, "HugeHeap advised nothing")
		os.Exit(1)
	}
	writePages(make([]byte, freshBytes))
	os.Exit(0)
}

// BenchmarkFreshHeap measures what writing fresh heap costs a process,
// plain and after HugeHeap: each iteration starts the test binary, which
// writes 256 MiB of new heap page by page and exits, and the benchmark
// reports the CPU time (user + system) of those children per iteration
// and the MiB written per CPU-second. Starting the process costs both
// alike, so the ratio of the two is the peer comparison: how much cheaper
// fresh memory gets on this machine with huge pages (on the VM of
// docs/analysis.md several times; on bare metal much less). It needs the
// kernel's transparent huge pages set to "madvise".
func BenchmarkFreshHeap(b *testing.B) {
	if mode := thpMode(); mode != "madvise" {
		b.Skipf("SKIPPED: transparent huge pages are %q here; HugeHeap acts only under \"madvise\"", mode)
	}
	for _, mode := range []string{"plain", "huge"} {
		b.Run(mode, func(b *testing.B) {
			var cpu time.Duration
			var faults int64
			for b.Loop() {
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), freshChildEnv+"="+mode)
				if out, err := cmd.CombinedOutput(); err != nil {
					b.Fatalf("child: %v\n%s", err, out)
				}
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				cpu += time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
				faults += ru.Minflt
			}
			n := float64(b.N)
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/op")
			b.ReportMetric(float64(faults)/n, "faults/op")
			b.ReportMetric(float64(freshBytes>>20)*n/cpu.Seconds(), "MiB/cpu-s")
		})
	}
}
