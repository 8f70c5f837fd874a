package numcsv

import (
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	tab, err := Read(strings.NewReader("\ufeffx, y ,name\n1,2.5,a\n3,-4,b\n"), "f.csv", Options{AllowText: true})
	if err != nil {
		t.Fatal(err)
	}
	if tab.Rows != 2 || len(tab.Num["x"]) != 2 || tab.Num["y"][1] != -4 || tab.Text["name"][1] != "b" {
		t.Fatalf("%+v", tab)
	}
	// a column turns to text at its first non-number and keeps earlier rows
	tab, err = Read(strings.NewReader("a\n1\nx\n"), "f.csv", Options{AllowText: true})
	if err != nil || len(tab.Text["a"]) != 2 || tab.Text["a"][0] != "1" {
		t.Fatalf("%+v %v", tab, err)
	}
}

func TestReadErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "f.csv: row 1: empty file: want a header row"},
		{"a,,b\n", "f.csv: row 1: column 2 has an empty name"},
		{"a,a\n", `f.csv: row 1: column "a": duplicate column name`},
		{"a,b\n1,2\n3\n", "f.csv: row 3: has 1 fields, the header has 2"},
		{"a,b\n1,x\n", `f.csv: row 2: column "b": "x" is not a number`},
		{"a\nNaN\n", `f.csv: row 2: column "a": "NaN" is not a finite number`},
		{"a\n+Inf\n", `f.csv: row 2: column "a": "+Inf" is not a finite number`},
		{"a\n\"1\n", "f.csv: row 2: extraneous or missing \" in quoted-field"},
	} {
		_, err := Read(strings.NewReader(c.in), "f.csv", Options{})
		if err == nil || err.Error() != c.want {
			t.Errorf("%q: got %v, want %s", c.in, err, c.want)
		}
	}
}
