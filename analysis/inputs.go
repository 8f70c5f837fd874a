package analysis

import (
	"slices"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/objstore"
)

// resolveInputs lists the span files that args name: local files,
// directories and globs (ingest.Inputs) and object-storage URLs of objects
// and prefixes (objstore.Store.List), sorted and de-duplicated.
func resolveInputs(store *objstore.Store, args []string) ([]string, error) {
	var local, names []string
	for _, a := range args {
		if !objstore.IsURL(a) {
			local = append(local, a)
			continue
		}
		l, err := store.List(a)
		if err != nil {
			return nil, err
		}
		names = append(names, l...)
	}
	if len(local) > 0 || len(names) == 0 {
		l, err := ingest.Inputs(local)
		if err != nil {
			return nil, err
		}
		names = append(names, l...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// opener opens local paths as files and URLs through store.
func opener(store *objstore.Store) ingest.OpenFunc {
	return func(name string) (ingest.Input, error) {
		if objstore.IsURL(name) {
			return store.Open(name)
		}
		return ingest.OpenLocal(name)
	}
}
