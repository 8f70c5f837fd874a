package objstore

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"gocloud.dev/blob"
)

// ErrNotOutput marks a bucket prefix that holds objects but no marker:
// chaosgen did not write it, so replacing it could destroy what it holds.
var ErrNotOutput = errors.New("is a non-empty prefix that chaosgen did not write")

// WriteDir runs write on a directory and stores the result at out. For a
// local out, write gets out itself (and replaces it atomically, as the
// caller's write does). For a URL prefix, write gets a fresh temporary
// directory that is then uploaded: every file but last first, then the
// objects under the prefix that the new directory does not hold are
// deleted, then last (the summary that readers open first). Each object is
// replaced atomically, but the set is not: a reader that lists the prefix
// during the upload can see old and new files side by side, and an upload
// that fails part way leaves them so (the error says so; run again). A
// prefix that holds objects but not marker is refused unless force.
func (s *Store) WriteDir(out, marker, last string, force bool, write func(dir string) error) error {
	if !IsURL(out) {
		return write(out)
	}
	l, err := parse(out)
	if err != nil {
		return err
	}
	if !isPrefix(l.key) {
		l.key += "/"
	}
	b, err := s.bucket(l)
	if err != nil {
		return err
	}
	old, err := s.keys(b, l)
	if err != nil {
		return err
	}
	if len(old) > 0 && !force && !slices.Contains(old, l.key+marker) {
		return fmt.Errorf("%s %w", l.name(l.key), ErrNotOutput)
	}
	tmp, err := os.MkdirTemp("", "chaosgen-output-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "out")
	if err := write(dir); err != nil {
		return err
	}
	var files []string
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		return err
	}
	slices.Sort(files)
	put := func(f string) error {
		return s.upload(b, l, filepath.Join(dir, filepath.FromSlash(f)), path.Join(l.key, f))
	}
	for _, f := range files {
		if f == last {
			continue
		}
		if err := put(f); err != nil {
			return partial(err, l.name(l.key))
		}
	}
	for _, k := range old {
		if !slices.Contains(files, strings.TrimPrefix(k, l.key)) {
			if err := b.Delete(s.ctx, k); err != nil {
				return partial(storeError(s.ctx, b, l, "deleting "+l.name(k), err), l.name(l.key))
			}
		}
	}
	if slices.Contains(files, last) {
		if err := put(last); err != nil {
			return partial(err, l.name(l.key))
		}
	}
	return nil
}

func partial(err error, prefix string) error {
	return fmt.Errorf("%w (%s now holds a mix of the old and the new output: write it again)", err, prefix)
}

// keys lists every object under l's prefix.
func (s *Store) keys(b *blob.Bucket, l location) ([]string, error) {
	var keys []string
	it := b.List(&blob.ListOptions{Prefix: l.key})
	for {
		obj, err := it.Next(s.ctx)
		if errors.Is(err, io.EOF) {
			return keys, nil
		}
		if err != nil {
			return nil, storeError(s.ctx, b, l, l.name(l.key), err)
		}
		if !obj.IsDir {
			keys = append(keys, obj.Key)
		}
	}
}

func (s *Store) upload(b *blob.Bucket, l location, file, key string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	ct := mime.TypeByExtension(path.Ext(key))
	if path.Ext(key) == ".parquet" {
		ct = "application/vnd.apache.parquet"
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := b.Upload(s.ctx, key, f, &blob.WriterOptions{ContentType: ct}); err != nil {
		return storeError(s.ctx, b, l, "uploading "+l.name(key), err)
	}
	// an upload that succeeded sent the whole file
	s.mu.Lock()
	s.uploads = append(s.uploads, Upload{Name: l.name(key), Bytes: fi.Size()})
	s.mu.Unlock()
	return nil
}
