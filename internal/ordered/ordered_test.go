package ordered

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestDo: results come in the jobs' order whatever the number of workers;
// the error is the first failed job's in order even when a later one fails
// first in time; jobs after a failure that had not started do not run; no
// more than workers jobs run at once.
func TestDo(t *testing.T) {
	for _, w := range []int{0, 1, 3, 16, 100} {
		var running, most atomic.Int64
		got, err := Do(50, w, func(i int) (string, error) {
			r := running.Add(1)
			defer running.Add(-1)
			for m := most.Load(); r > m && !most.CompareAndSwap(m, r); m = most.Load() {
			}
			time.Sleep(time.Millisecond)
			return fmt.Sprint(i * i), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range got {
			if s != fmt.Sprint(i*i) {
				t.Fatalf("%d workers: result %d is %q", w, i, s)
			}
		}
		if m := most.Load(); m > int64(max(w, 1)) {
			t.Errorf("%d workers: %d jobs ran at once", w, m)
		}
	}
	for _, w := range []int{1, 4, 16} {
		var ran atomic.Int64
		_, err := Do(200, w, func(i int) (int, error) {
			ran.Add(1)
			switch i {
			case 5:
				time.Sleep(30 * time.Millisecond)
				return 0, errors.New("job 5")
			case 7:
				return 0, errors.New("job 7")
			}
			return i, nil
		})
		if err == nil || err.Error() != "job 5" {
			t.Errorf("%d workers: error %v, want job 5's", w, err)
		}
		if r := ran.Load(); r > 5+int64(w)+1 {
			t.Errorf("%d workers: %d jobs ran, want at most those started before job 5 failed", w, r)
		}
	}
	if got, err := Do(0, 4, func(int) (int, error) { return 0, errors.New("never") }); len(got) != 0 || err != nil {
		t.Errorf("no jobs: %v, %v", got, err)
	}
}
