package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "out.txt")
	if err := WriteFile(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("two"))
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("content visible before Commit: %q", b)
	}
	f.Abort()
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("Abort changed the file: %q", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	f, _ = Create(p)
	f.Write([]byte("three"))
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := f.Commit(); err == nil {
		t.Error("second Commit: no error")
	}
	if b, _ := os.ReadFile(p); string(b) != "three" {
		t.Fatalf("after Commit: %q", b)
	}
}

func TestDirReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "analysis")
	for _, content := range []string{"first", "second"} {
		d, err := CreateDir(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d.Tmp, "a.txt"), []byte(content), 0o644)
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(p, "a.txt")); string(b) != content {
			t.Fatalf("got %q, want %q", b, content)
		}
	}
	d, _ := CreateDir(p)
	os.WriteFile(filepath.Join(d.Tmp, "a.txt"), []byte("third"), 0o644)
	d.Abort()
	if b, _ := os.ReadFile(filepath.Join(p, "a.txt")); string(b) != "second" {
		t.Fatalf("Abort changed the directory: %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	// a file in the way is an error, and leaves the file alone
	f := filepath.Join(dir, "file")
	os.WriteFile(f, []byte("x"), 0o644)
	d, _ = CreateDir(f)
	if err := d.Commit(); err == nil {
		t.Error("committing over a file: no error")
	}
	if b, _ := os.ReadFile(f); string(b) != "x" {
		t.Error("the file was changed")
	}
}
