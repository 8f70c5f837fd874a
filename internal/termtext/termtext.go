// Package termtext keeps text that comes from the data (service and
// operation names, file contents quoted in errors) from driving the terminal
// it is printed on: control characters are shown escaped, never sent raw.
package termtext

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// Escape returns s with every character that a terminal would act on
// instead of showing (C0 and C1 controls other than newline and tab, DEL,
// and the bidirectional overrides that reorder a line) written as a Go
// escape: "\x1b[31m" shows as `\u001b[31m`. Bytes that are not UTF-8 show
// as `\x9b`.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[0]) // not UTF-8: a byte a terminal may read as a C1 control
		case unsafe(r):
			writeEscaped(&b, r)
		default:
			b.WriteString(s[:n])
		}
		s = s[n:]
	}
	return b.String()
}

func needsEscape(s string) bool {
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if unsafe(r) || r == utf8.RuneError && n == 1 {
			return true
		}
		s = s[n:]
	}
	return false
}

// unsafe reports whether a terminal acts on r instead of showing it.
func unsafe(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// writeEscaped writes r as \uXXXX: a JSON string escaped so still decodes
// to the same text.
func writeEscaped(b *strings.Builder, r rune) { fmt.Fprintf(b, `\u%04x`, r) }

// Writer escapes (as Escape) everything written through it to W. The
// command layer wraps standard output and error in one, so that every line
// a command prints is safe, whichever package formats it. It is safe for
// concurrent use (servers log from many goroutines).
type Writer struct {
	W    io.Writer
	mu   sync.Mutex
	tail []byte // an incomplete UTF-8 sequence held for the next Write
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer { return &Writer{W: w} }

// Raw returns the underlying writer, for output that means to drive the
// terminal (a progress meter's carriage returns).
func (w *Writer) Raw() io.Writer { return w.W }

// Write escapes p and writes it; a UTF-8 sequence split across calls is
// completed by the next call.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	if len(w.tail) > 0 {
		p = append(w.tail, p...)
		w.tail = nil
	}
	if i := incompleteTail(p); i < len(p) {
		w.tail = append([]byte(nil), p[i:]...)
		p = p[:i]
	}
	s := string(p)
	if needsEscape(s) {
		s = Escape(s)
	}
	if _, err := io.WriteString(w.W, s); err != nil {
		return 0, err
	}
	return n, nil
}

// incompleteTail returns where a UTF-8 sequence that p ends in the middle
// of starts, or len(p).
func incompleteTail(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				return i
			}
			break
		}
	}
	return len(p)
}
