package analysis

import "iter"

// concat yields the elements of parts in order: the edges' forecast rows
// go to forecast.parquet without a slice of all of them (a day of a mesh
// is 10 MB of them).
func concat[T any](parts [][]T) iter.Seq[T] {
	return func(yield func(T) bool) {
		for _, p := range parts {
			for _, r := range p {
				if !yield(r) {
					return
				}
			}
		}
	}
}
