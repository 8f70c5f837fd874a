package ingest

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Inputs resolves arguments naming files, directories (searched recursively
// for *.parquet) and glob patterns to a sorted, de-duplicated list of files.
// An argument that matches nothing is an error, so a typo never turns into an
// empty analysis.
func Inputs(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: give one or more files, directories or globs", ErrNoInput)
	}
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		p = filepath.Clean(p)
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, arg := range args {
		fi, err := os.Stat(arg)
		switch {
		case err == nil && fi.IsDir():
			n := 0
			err := filepath.WalkDir(arg, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				name := d.Name()
				if d.IsDir() {
					if p != arg && strings.HasPrefix(name, ".") {
						return filepath.SkipDir
					}
					return nil
				}
				if strings.HasSuffix(name, ".parquet") && !strings.HasPrefix(name, ".") {
					add(p)
					n++
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("reading directory %s: %w", arg, err)
			}
			if n == 0 {
				return nil, fmt.Errorf("%w: directory %s holds no .parquet files", ErrNoInput, arg)
			}
		case err == nil:
			add(arg)
		case strings.ContainsAny(arg, "*?["):
			matches, gerr := filepath.Glob(arg)
			if gerr != nil {
				return nil, fmt.Errorf("bad glob %q: %w", arg, gerr)
			}
			var files []string
			for _, m := range matches {
				if fi, err := os.Stat(m); err == nil && !fi.IsDir() {
					files = append(files, m)
				}
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("%w: %q matches no files", ErrNoInput, arg)
			}
			for _, m := range files {
				add(m)
			}
		default:
			return nil, fmt.Errorf("%w: %s: %v", ErrNoInput, arg, err)
		}
	}
	slices.Sort(out)
	return out, nil
}
