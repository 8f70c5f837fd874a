// Package atomicfile writes files and directories so that readers see either
// the old content or the complete new content, never a half-written one.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// live holds the temporary files and directories not yet committed or
// aborted, for Cleanup. Renames onto final paths happen under its lock, so
// Cleanup never runs between the two renames of a directory's Commit.
var live struct {
	sync.Mutex
	paths map[string]bool
}

func track(path string) {
	live.Lock()
	if live.paths == nil {
		live.paths = map[string]bool{}
	}
	live.paths[path] = true
	live.Unlock()
}

func untrack(path string) {
	live.Lock()
	delete(live.paths, path)
	live.Unlock()
}

// Cleanup removes every temporary file and directory of this process that
// is not committed or aborted yet. The command layer calls it when a signal
// stops the process before the writers have cleaned up themselves; a
// Commit waiting for it then fails.
func Cleanup() {
	live.Lock()
	defer live.Unlock()
	for p := range live.paths {
		os.RemoveAll(p)
	}
	clear(live.paths)
}

// File is a temporary file that becomes Path on Commit.
type File struct {
	*os.File
	path string
	done bool
}

// Create opens a temporary file beside path, making its directory if needed. Write to it, then Commit to
// rename it into place, or Abort to remove it.
func Create(path string) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, pathError(path, err)
	}
	track(f.Name())
	return &File{File: f, path: path}, nil
}

// Commit flushes the file to disk and renames it to its final path.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("atomicfile: %s already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.File.Name()
	defer untrack(tmp)
	err := f.File.Sync()
	if err == nil {
		err = f.File.Chmod(0o644)
	}
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.rename(tmp)
	}
	if err != nil {
		os.Remove(tmp)
		return pathError(f.path, err)
	}
	return nil
}

func (f *File) rename(tmp string) error {
	live.Lock()
	defer live.Unlock()
	if !live.paths[tmp] {
		return errInterrupted
	}
	return os.Rename(tmp, f.path)
}

var errInterrupted = errors.New("interrupted")

// pathError describes a failed write of path without the temporary name,
// which the user never chose and cannot find afterwards.
func pathError(path string, err error) error {
	var le *os.LinkError
	var pe *os.PathError
	switch {
	case errors.As(err, &le):
		err = le.Err
	case errors.As(err, &pe):
		err = pe.Err
	}
	return fmt.Errorf("writing %s: %w", path, err)
}

// Abort removes the temporary file. It is a no-op after Commit, so it can be
// deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.File.Name())
	untrack(f.File.Name())
}

// WriteFile writes data to path atomically with mode 0644.
func WriteFile(path string, data []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// Marker is the file CreateDir puts in every directory it makes. A
// directory holding it was written by chaosgen and may be replaced; any
// other non-empty directory is refused unless the caller forces it.
const Marker = ".chaosgen-output"

const markerText = "This directory was written by chaosgen. Writing to it again (-o) replaces all of it.\n"

// ErrNotOutput marks a non-empty directory that CreateDir did not make, so
// replacing it could destroy what chaosgen did not write.
var ErrNotOutput = errors.New("is a non-empty directory that chaosgen did not write")

// CheckDir reports whether path may be replaced by a directory from
// CreateDir: it is absent, an empty directory, or a directory holding
// Marker. With force, any directory may be replaced. A file in the way is
// always an error.
func CheckDir(path string, force bool) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s exists and is not a directory", path)
	case force:
		return nil
	}
	if _, err := os.Lstat(filepath.Join(path, Marker)); err == nil {
		return nil
	}
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.Readdirnames(1); errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("%s %w", path, ErrNotOutput)
}

// Dir is a temporary directory that replaces Path on Commit.
type Dir struct {
	Tmp   string // the temporary directory to fill
	path  string
	force bool
	done  bool
}

// CreateDir makes a temporary directory beside path, holding Marker. It
// refuses (ErrNotOutput) when path is a non-empty directory without Marker,
// unless force is set; Commit checks again.
func CreateDir(path string, force bool) (*Dir, error) {
	path = filepath.Clean(path)
	if err := CheckDir(path, force); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, pathError(path, err)
	}
	track(tmp)
	if err := os.WriteFile(filepath.Join(tmp, Marker), []byte(markerText), 0o644); err != nil {
		remove(tmp)
		return nil, pathError(path, err)
	}
	return &Dir{Tmp: tmp, path: path, force: force}, nil
}

// Commit flushes the temporary directory's files and directories to disk
// and moves it to its final path. An existing directory at that path is
// moved aside first and removed after the rename, so the path always
// holds either the old or the new complete directory (with a moment
// between the two renames in which it is absent), across a crash too.
// Writers into the directory need not flush their files themselves.
func (d *Dir) Commit() error {
	if d.done {
		return fmt.Errorf("atomicfile: %s already committed or aborted", d.path)
	}
	d.done = true
	if err := syncTree(d.Tmp); err != nil {
		live.Lock()
		if !live.paths[d.Tmp] {
			err = errInterrupted // Cleanup removed the directory under it
		}
		live.Unlock()
		remove(d.Tmp)
		return pathError(d.path, err)
	}
	old, err := d.swap()
	if err != nil {
		remove(d.Tmp)
		return err
	}
	// the renames themselves: best effort, the directory is in place
	syncPath(filepath.Dir(d.path))
	if old != "" {
		err = remove(old)
	}
	return err
}

// syncTree flushes every regular file and directory under dir to disk,
// all at once: nothing under dir is reachable from the final path before
// the rename that follows, so the order does not matter, and a file system
// commits syncs that wait together in one go (the files of an analysis one
// after the other took several times as long).
func syncTree(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && (e.IsDir() || e.Type().IsRegular()) {
			paths = append(paths, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	open := make(chan struct{}, maxSyncs)
	for i, p := range paths {
		open <- struct{}{}
		wg.Go(func() {
			errs[i] = syncPath(p)
			<-open
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// maxSyncs bounds the files syncTree holds open at once, for a tree of
// thousands of files.
const maxSyncs = 32

// syncPath flushes the file or directory at p to disk (a variable for the
// tests).
var syncPath = func(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// swap renames path aside (returning the name it got, tracked until
// removed) and the temporary directory onto path, under the lock that
// Cleanup takes.
func (d *Dir) swap() (old string, err error) {
	live.Lock()
	defer live.Unlock()
	if !live.paths[d.Tmp] {
		return "", pathError(d.path, errInterrupted)
	}
	if err := os.Chmod(d.Tmp, 0o755); err != nil {
		return "", pathError(d.path, err)
	}
	if err := CheckDir(d.path, d.force); err != nil {
		return "", err
	}
	if _, err := os.Stat(d.path); err == nil {
		old = d.Tmp + ".old"
		if err := os.Rename(d.path, old); err != nil {
			return "", pathError(d.path, err)
		}
	}
	if err := os.Rename(d.Tmp, d.path); err != nil {
		if old != "" {
			os.Rename(old, d.path)
		}
		return "", pathError(d.path, err)
	}
	delete(live.paths, d.Tmp)
	if old != "" {
		live.paths[old] = true
	}
	return old, nil
}

// Abort removes the temporary directory; a no-op after Commit.
func (d *Dir) Abort() {
	if d.done {
		return
	}
	d.done = true
	remove(d.Tmp)
}

// remove removes the temporary or set-aside directory at path and stops
// tracking it.
func remove(path string) error {
	err := os.RemoveAll(path)
	untrack(path)
	return err
}
