// Package atomicfile writes files and directories so that readers see either
// the old content or the complete new content, never a half-written one.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

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
		return nil, err
	}
	return &File{File: f, path: path}, nil
}

// Commit flushes the file to disk and renames it to its final path.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("atomicfile: %s already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.File.Name()
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.File.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
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

// Dir is a temporary directory that replaces Path on Commit.
type Dir struct {
	Tmp  string // the temporary directory to fill
	path string
	done bool
}

// CreateDir makes a temporary directory beside path.
func CreateDir(path string) (*Dir, error) {
	path = filepath.Clean(path)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &Dir{Tmp: tmp, path: path}, nil
}

// Commit moves the temporary directory to its final path. An existing
// directory at that path is moved aside first and removed after the rename,
// so the path always holds either the old or the new complete directory
// (with a moment between the two renames in which it is absent).
func (d *Dir) Commit() error {
	if d.done {
		return fmt.Errorf("atomicfile: %s already committed or aborted", d.path)
	}
	d.done = true
	if err := os.Chmod(d.Tmp, 0o755); err != nil {
		os.RemoveAll(d.Tmp)
		return err
	}
	var old string
	if fi, err := os.Stat(d.path); err == nil {
		if !fi.IsDir() {
			os.RemoveAll(d.Tmp)
			return fmt.Errorf("%s exists and is not a directory", d.path)
		}
		old = d.Tmp + ".old"
		if err := os.Rename(d.path, old); err != nil {
			os.RemoveAll(d.Tmp)
			return err
		}
	}
	if err := os.Rename(d.Tmp, d.path); err != nil {
		if old != "" {
			os.Rename(old, d.path)
		}
		os.RemoveAll(d.Tmp)
		return err
	}
	if old != "" {
		return os.RemoveAll(old)
	}
	return nil
}

// Abort removes the temporary directory; a no-op after Commit.
func (d *Dir) Abort() {
	if d.done {
		return
	}
	d.done = true
	os.RemoveAll(d.Tmp)
}
