package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
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
		d, err := CreateDir(p, false)
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
	d, _ := CreateDir(p, false)
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
	if _, err := CreateDir(f, false); err == nil || err.Error() != f+" exists and is not a directory" {
		t.Errorf("creating over a file: %v", err)
	}
	if b, _ := os.ReadFile(f); string(b) != "x" {
		t.Error("the file was changed")
	}
}

// TestDirRefusesForeign checks that a non-empty directory chaosgen did not
// write is never replaced without force, at CreateDir and again at Commit,
// and that force replaces it.
func TestDirRefusesForeign(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "work")
	os.MkdirAll(filepath.Join(home, "src"), 0o755)
	os.WriteFile(filepath.Join(home, "src", "main.go"), []byte("package main"), 0o644)
	if _, err := CreateDir(home, false); !errors.Is(err, ErrNotOutput) || err.Error() != home+" is a non-empty directory that chaosgen did not write" {
		t.Fatalf("CreateDir over a user's tree: %v", err)
	}
	// The directory is filled between CreateDir and Commit.
	late := filepath.Join(dir, "late")
	d, err := CreateDir(late, false)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(late, 0o755)
	os.WriteFile(filepath.Join(late, "notes.txt"), []byte("mine"), 0o644)
	if err := d.Commit(); !errors.Is(err, ErrNotOutput) {
		t.Fatalf("Commit over a directory filled meanwhile: %v", err)
	}
	for _, p := range []string{filepath.Join(home, "src", "main.go"), filepath.Join(late, "notes.txt")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("left behind: %v", ents)
	}
	// An empty directory, and a previous output, are replaced.
	empty := filepath.Join(dir, "empty")
	os.Mkdir(empty, 0o755)
	for range 2 {
		d, err := CreateDir(empty, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(empty, Marker)); err != nil {
			t.Fatalf("no marker in the output: %v", err)
		}
	}
	// Force replaces the user's tree.
	d, err = CreateDir(home, true)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d.Tmp, "a.txt"), []byte("new"), 0o644)
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "src")); !os.IsNotExist(err) {
		t.Errorf("forced replace kept the old tree: %v", err)
	}
}

// TestCommitErrorsNameThePath checks that a failed rename names the path
// the caller gave, never the temporary file.
func TestCommitErrorsNameThePath(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.json")
	os.Mkdir(p, 0o755)
	os.WriteFile(filepath.Join(p, "x"), nil, 0o644)
	err := WriteFile(p, []byte("{}"))
	if err == nil || strings.Contains(err.Error(), ".tmp-") || err.Error() != "writing "+p+": file exists" && err.Error() != "writing "+p+": is a directory" {
		t.Errorf("writing over a directory: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestCleanup checks that Cleanup removes the temporary files and
// directories in progress, leaves committed ones alone, and that a Commit
// after it fails instead of renaming nothing into place.
func TestCleanup(t *testing.T) {
	dir := t.TempDir()
	done := filepath.Join(dir, "done.txt")
	if err := WriteFile(done, []byte("kept")); err != nil {
		t.Fatal(err)
	}
	f, err := Create(filepath.Join(dir, "spans.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("partial"))
	d, err := CreateDir(filepath.Join(dir, "analysis"), false)
	if err != nil {
		t.Fatal(err)
	}
	Cleanup()
	if ents, _ := os.ReadDir(dir); len(ents) != 1 || ents[0].Name() != "done.txt" {
		t.Errorf("after Cleanup: %v", ents)
	}
	if err := f.Commit(); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("file Commit after Cleanup: %v", err)
	}
	if err := d.Commit(); err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("dir Commit after Cleanup: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("after the failed commits: %v", ents)
	}
}

// TestDirCommitSyncs checks that Commit flushes every file and directory
// of the tree to disk before the rename, then the parent; and that a file
// that cannot be flushed fails the commit, which leaves no directory
// behind.
func TestDirCommitSyncs(t *testing.T) {
	var mu sync.Mutex
	var synced []string
	fail := ""
	old := syncPath
	t.Cleanup(func() { syncPath = old })
	syncPath = func(p string) error {
		mu.Lock()
		synced = append(synced, p)
		mu.Unlock()
		if p == fail {
			return errors.New("disk full")
		}
		return old(p)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "out")
	d, err := CreateDir(p, false)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(d.Tmp, "sub", "deeper"), 0o755)
	for _, f := range []string{"a.parquet", "summary.json", "sub/b", "sub/deeper/c"} {
		os.WriteFile(filepath.Join(d.Tmp, f), []byte(f), 0o644)
	}
	tmp := d.Tmp
	if err := d.Commit(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range synced {
		r, _ := filepath.Rel(tmp, s)
		if s == dir {
			r = "(parent)"
		}
		got = append(got, r)
	}
	want := []string{".", ".chaosgen-output", "a.parquet", "sub", "sub/b", "sub/deeper", "sub/deeper/c", "summary.json"}
	if len(got) != len(want)+1 || got[len(got)-1] != "(parent)" {
		t.Fatalf("synced %v: want the tree, then the parent", got)
	}
	if slices.Sort(got[:len(want)]); !slices.Equal(got[:len(want)], want) {
		t.Errorf("synced %v, want %v", got[:len(want)], want)
	}
	if b, _ := os.ReadFile(filepath.Join(p, "sub", "deeper", "c")); string(b) != "sub/deeper/c" {
		t.Errorf("committed tree: %q", b)
	}

	// a file that cannot be flushed: the commit fails, naming the path, and
	// the previous directory stays
	d, err = CreateDir(p, false)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d.Tmp, "a.parquet"), []byte("new"), 0o644)
	fail = filepath.Join(d.Tmp, "a.parquet")
	if err := d.Commit(); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("commit with a failed flush: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(p, "a.parquet")); string(b) != "a.parquet" {
		t.Errorf("the failed commit changed the directory: %q", b)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
}

// TestSyncTreeBounded checks that flushing a tree of many files holds at
// most maxSyncs of them open at once, and flushes every one.
func TestSyncTreeBounded(t *testing.T) {
	dir := t.TempDir()
	const n = 3 * maxSyncs
	for i := range n {
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", i)), []byte("x"), 0o644)
	}
	var mu sync.Mutex
	inFlight, most, done := 0, 0, 0
	old := syncPath
	t.Cleanup(func() { syncPath = old })
	syncPath = func(p string) error {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		inFlight--
		done++
		mu.Unlock()
		return nil
	}
	if err := syncTree(dir); err != nil {
		t.Fatal(err)
	}
	if done != n+1 {
		t.Errorf("flushed %d paths, want the %d files and the directory", done, n)
	}
	if most > maxSyncs || most < 2 {
		t.Errorf("at most %d flushes at once, want 2 to %d", most, maxSyncs)
	}
}
