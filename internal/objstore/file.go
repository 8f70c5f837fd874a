package objstore

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"
)

// Name returns a URL's object name, scheme://bucket/key without the query
// that configures the bucket (the name that errors and reports use), and
// anything else unchanged.
func Name(raw string) string {
	if !IsURL(raw) {
		return raw
	}
	l, err := parse(raw)
	if err != nil {
		return raw
	}
	return l.name(l.key)
}

// Object checks that a URL names one object (not a prefix, nor a key that
// does not exist) and returns its name, by which OpenFile and ReadFile
// find it with the URL's bucket settings.
func (s *Store) Object(raw string) (string, error) {
	l, err := parse(raw)
	if err != nil {
		return "", err
	}
	if isPrefix(l.key) {
		return "", fmt.Errorf("%s: names a prefix, not an object: give the objects in it", l.name(l.key))
	}
	b, err := s.bucket(l)
	if err != nil {
		return "", err
	}
	if _, err := b.Attributes(s.ctx, l.key); err != nil {
		return "", storeError(s.ctx, b, l, l.name(l.key), err)
	}
	return s.remember(l, l.key), nil
}

// Objects is Object for each name that is a URL; local paths pass through
// unchanged.
func (s *Store) Objects(names []string) ([]string, error) {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if IsURL(n) {
			var err error
			if out[i], err = s.Object(n); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// OpenFile opens a local file, or an object by URL or by a name that List
// or Object returned, for one sequential read of all of it (one request;
// Stats counts the object's bytes read).
func (s *Store) OpenFile(name string) (io.ReadCloser, error) {
	if !IsURL(name) {
		return os.Open(name)
	}
	b, l, key, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if isPrefix(key) {
		return nil, fmt.Errorf("%s: names a prefix, not an object", l.name(key))
	}
	r, err := b.NewReader(s.ctx, key, nil)
	if err != nil {
		return nil, storeError(s.ctx, b, l, l.name(key), err)
	}
	sr := &streamReader{r: r, name: l.name(key), size: r.Size()}
	s.mu.Lock()
	s.streams = append(s.streams, sr)
	s.mu.Unlock()
	return sr, nil
}

// streamReader names its object in read errors and counts the bytes read,
// for Stats.
type streamReader struct {
	r       io.ReadCloser
	name    string
	size    int64
	fetched atomic.Int64
}

func (r *streamReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.fetched.Add(int64(n))
	if err != nil && err != io.EOF {
		err = fmt.Errorf("reading %s: %w", r.name, err)
	}
	return n, err
}

func (r *streamReader) Close() error { return r.r.Close() }

// ReadFile reads all of a local file, or of an object as OpenFile opens it.
func (s *Store) ReadFile(name string) ([]byte, error) {
	if !IsURL(name) {
		return os.ReadFile(name)
	}
	r, err := s.OpenFile(name)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// WriteFile runs write on a local path and stores what it wrote at out.
// For a local out, write gets out itself (and writes it atomically, as the
// callers' writers do). For a URL naming an object, the bucket is checked
// first, so that a missing bucket or refused credentials fail before the
// work; write then gets a path in a fresh temporary directory, and the
// file is uploaded as one object. The object appears whole or not at all:
// an S3 PUT (and the completion of a multipart upload), a GCS upload and
// an Azure block list commit each replace the object atomically, and an
// upload that fails leaves the old object, or none.
func (s *Store) WriteFile(out string, write func(path string) error) error {
	if !IsURL(out) {
		return write(out)
	}
	l, err := parse(out)
	if err != nil {
		return err
	}
	if isPrefix(l.key) {
		return fmt.Errorf("%s: names a prefix: give an object name, such as %s", l.name(l.key), l.name(path.Join(l.key, "NAME")))
	}
	b, err := s.bucket(l)
	if err != nil {
		return err
	}
	ok, err := b.IsAccessible(s.ctx)
	if err != nil {
		return storeError(s.ctx, b, l, l.name(l.key), err)
	}
	if !ok {
		return fmt.Errorf("%s: bucket %s %w", l.name(l.key), l.base, ErrNotFound)
	}
	tmp, err := os.MkdirTemp("", "chaosgen-output-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	file := filepath.Join(tmp, path.Base(l.key))
	if err := write(file); err != nil {
		return err
	}
	return s.upload(b, l, file, l.key)
}
