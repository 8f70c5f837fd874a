package termtext

import (
	"bytes"
	"testing"
)

func TestEscape(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"checkout", "checkout"},
		{"päyment-ü", "päyment-ü"},
		{"a\tb\nc", "a\tb\nc"},
		{"\x1b[31mred\x1b[0m", `\u001b[31mred\u001b[0m`},
		{"svc\rfake", `svc\u000dfake`},
		{"bell\a", `bell\u0007`},
		{"del\x7f", `del\u007f`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"rtl\u202eevil", `rtl\u202eevil`},
		{"raw\x9b31m", `raw\x9b31m`},
		{"ok\ufffd", "ok\ufffd"},
	} {
		if got := Escape(c.in); got != c.want {
			t.Errorf("Escape(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestWriter writes a C1 control split across two writes: the writer must
// see the whole rune to escape it.
func TestWriter(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	c1 := []byte("\u009b")
	for _, p := range [][]byte{[]byte("edge a->b\x1b]0;x\x07 "), c1[:1], c1[1:], []byte("31m ü\n")} {
		if n, err := w.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if want := `edge a->b\u001b]0;x\u0007 \u009b31m ü` + "\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
	if w.Raw() != &b {
		t.Error("Raw is not the underlying writer")
	}
}
