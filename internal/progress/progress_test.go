package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestQuietWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	m := Start(&buf, 100, "rows")
	m.Add(40)
	m.Set(60)
	m.Done()
	if buf.Len() != 0 {
		t.Errorf("wrote %q to a non-terminal", buf.String())
	}
	if IsTerminal(&buf) {
		t.Error("a buffer is not a terminal")
	}
}

func TestLine(t *testing.T) {
	m := &Meter{unit: "spans"}
	m.total.Store(2_000_000)
	m.done.Store(500_000)
	l := m.line()
	for _, want := range []string{"500.0k spans", "/ 2.00M (25%)", "spans/s", "ETA"} {
		if !strings.Contains(l, want) {
			t.Errorf("line %q lacks %q", l, want)
		}
	}
	m.total.Store(0)
	if l := m.line(); strings.Contains(l, "ETA") || strings.Contains(l, "%") {
		t.Errorf("unknown total, but %q", l)
	}
	for x, want := range map[float64]string{12: "12", 1500: "1.5k", 2.5e6: "2.50M", 3e9: "3.00G"} {
		if got := human(x); got != want {
			t.Errorf("human(%g) = %q, want %q", x, got, want)
		}
	}
}
