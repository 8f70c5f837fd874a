package ingest

// OpenAll is openAll for the external benchmarks.
var OpenAll = openAll

// SetPrefetch turns the prefetching of objects' column chunks on or off.
func SetPrefetch(on bool) { noPrefetch = !on }
