// Package progress shows the progress of long work on a terminal: rows done,
// rows per second and the time left. It prints nothing when its writer is not
// a terminal, so CI logs stay clean.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"
)

// Meter counts work done. Add and Set are safe for concurrent use.
type Meter struct {
	done  atomic.Int64
	total atomic.Int64
	unit  string
	w     io.Writer
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := raw(w).(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// raw returns the writer under one that escapes control characters
// (termtext.Writer): the meter's own carriage returns must reach the
// terminal.
func raw(w io.Writer) io.Writer {
	if r, ok := w.(interface{ Raw() io.Writer }); ok {
		return r.Raw()
	}
	return w
}

// Start begins showing progress on w when w is a terminal; total may be 0
// when unknown (no ETA is shown then). Call Done when the work ends.
func Start(w io.Writer, total int64, unit string) *Meter {
	m := &Meter{unit: unit, w: raw(w), start: time.Now(), stop: make(chan struct{})}
	m.total.Store(total)
	if !IsTerminal(w) {
		m.w = nil
		return m
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				fmt.Fprint(m.w, "\r\033[K")
				return
			case <-t.C:
				fmt.Fprint(m.w, "\r\033[K"+m.line())
			}
		}
	}()
	return m
}

// Counter returns the meter's counter, for code that advances it directly.
func (m *Meter) Counter() *atomic.Int64 { return &m.done }

// Add records n more units done.
func (m *Meter) Add(n int64) { m.done.Add(n) }

// Set records the units done so far.
func (m *Meter) Set(n int64) { m.done.Store(n) }

// SetTotal changes the expected total.
func (m *Meter) SetTotal(n int64) { m.total.Store(n) }

// Done stops the display and clears its line.
func (m *Meter) Done() {
	if m.w == nil {
		return
	}
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	m.wg.Wait()
}

func (m *Meter) line() string {
	done, total := m.done.Load(), m.total.Load()
	el := time.Since(m.start).Seconds()
	rate := float64(done) / max(el, 1e-9)
	s := fmt.Sprintf("%s %s", human(float64(done)), m.unit)
	if total > 0 {
		s += fmt.Sprintf(" / %s (%.0f%%)", human(float64(total)), 100*float64(done)/float64(total))
	}
	s += fmt.Sprintf("  %s %s/s", human(rate), m.unit)
	if total > 0 && rate > 0 && done < total {
		eta := time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second)
		s += fmt.Sprintf("  ETA %s", eta)
	}
	return s
}

func human(x float64) string {
	switch {
	case x >= 1e9:
		return fmt.Sprintf("%.2fG", x/1e9)
	case x >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case x >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}
