package edge

import (
	"slices"
	"testing"
)

func TestString(t *testing.T) {
	for _, c := range []struct {
		e    Edge
		want string
	}{
		{Edge{"checkout", "payment"}, "checkout → payment"},
		{Edge{"", "frontend"}, "(ingress) → frontend"},
		{Edge{"a", ""}, "a → "},
	} {
		if got := c.e.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.e, got, c.want)
		}
	}
}

func TestCompare(t *testing.T) {
	es := []Edge{{"b", "a"}, {"a", "c"}, {"", "z"}, {"a", "b"}, {"a", "b"}}
	slices.SortFunc(es, Compare)
	want := []Edge{{"", "z"}, {"a", "b"}, {"a", "b"}, {"a", "c"}, {"b", "a"}}
	if !slices.Equal(es, want) {
		t.Fatalf("sorted %v, want %v", es, want)
	}
	if Compare(Edge{"a", "b"}, Edge{"a", "b"}) != 0 || Compare(Edge{"a", "c"}, Edge{"a", "b"}) <= 0 || Compare(Edge{"a", "z"}, Edge{"b", "a"}) >= 0 {
		t.Fatal("Compare is not a total order by caller, then callee")
	}
}
