package golden

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of reporting them.
type recorder struct {
	testing.TB
	errors []string
	fatal  bool
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatal(args ...any) {
	r.fatal = true
	r.errors = append(r.errors, fmt.Sprint(args...))
}

func TestUpdateDefaultFalse(t *testing.T) {
	f := flag.Lookup("update")
	if f == nil {
		t.Fatal("-update is not registered")
	}
	if f.DefValue != "false" {
		t.Errorf("-update defaults to %q, want false", f.DefValue)
	}
	if f.Value.String() == "false" && Update() {
		t.Error("Update() is true without -update")
	}
}

func TestCheckUpdateWrites(t *testing.T) {
	old := flag.Lookup("update").Value.String()
	if err := flag.Set("update", "true"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flag.Set("update", old) })
	if !Update() {
		t.Fatal("Update() is false after setting -update")
	}
	path := filepath.Join(t.TempDir(), "sub", "dir", "new.golden")
	r := &recorder{TB: t}
	Check(r, path, []byte("fresh\n"))
	if len(r.errors) != 0 {
		t.Fatalf("Check under -update failed: %q", r.errors)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "fresh\n" {
		t.Errorf("wrote %q, want %q", data, "fresh\n")
	}
}

// runCheck runs Check on got against a golden file holding *want, or against
// a missing file when want is nil, and returns what Check reported.
func runCheck(t *testing.T, want *string, got string) (r *recorder, path string) {
	t.Helper()
	if Update() {
		t.Skip("running with -update")
	}
	path = filepath.Join(t.TempDir(), "case.golden")
	if want != nil {
		if err := os.WriteFile(path, []byte(*want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r = &recorder{TB: t}
	Check(r, path, []byte(got))
	return r, path
}

func ptr(s string) *string { return &s }

func TestCheckEqual(t *testing.T) {
	if r, _ := runCheck(t, ptr("same\n"), "same\n"); len(r.errors) != 0 || r.fatal {
		t.Errorf("Check on equal content failed: %q", r.errors)
	}
}

func TestCheckMismatch(t *testing.T) {
	r, path := runCheck(t, ptr("want\n"), "got\n")
	if len(r.errors) != 1 {
		t.Fatalf("Check on differing content reported %d errors, want 1: %q", len(r.errors), r.errors)
	}
	msg := r.errors[0]
	for _, s := range []string{path + " mismatch (-want +got):", `"want\n"`, `"got\n"`} {
		if !strings.Contains(msg, s) {
			t.Errorf("error %q does not contain %q", msg, s)
		}
	}
}

func TestCheckMissingFileIsEmpty(t *testing.T) {
	if r, _ := runCheck(t, nil, ""); len(r.errors) != 0 {
		t.Errorf("Check of empty output against a missing file failed: %q", r.errors)
	}
	if r, _ := runCheck(t, nil, "new\n"); len(r.errors) != 1 {
		t.Errorf("Check of new output against a missing file reported %d errors, want 1", len(r.errors))
	}
}
