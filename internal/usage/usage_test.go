package usage

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestErrorf(t *testing.T) {
	err := fmt.Errorf("generate: %w", Errorf("--max-rate must be in (0, 1], got %v", 2))
	if !errors.Is(err, Err) {
		t.Fatalf("%v does not match Err", err)
	}
	if got, want := err.Error(), "generate: --max-rate must be in (0, 1], got 2"; got != want {
		t.Errorf("text %q, want %q", got, want)
	}
	if errors.Is(fmt.Errorf("x: %w", fs.ErrNotExist), Err) {
		t.Error("an error that was not marked matches Err")
	}
}

func TestWrap(t *testing.T) {
	if Wrap(nil) != nil {
		t.Fatal("Wrap(nil) is not nil")
	}
	err := Wrap(fs.ErrNotExist)
	if !errors.Is(err, Err) || !errors.Is(err, fs.ErrNotExist) || err.Error() != fs.ErrNotExist.Error() {
		t.Errorf("Wrap(fs.ErrNotExist) = %v: want the same text, matching both Err and fs.ErrNotExist", err)
	}
}
