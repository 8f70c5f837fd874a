// Package ingest reads and writes span records, the rows of span schema v1
// that every stage of chaosgen exchanges: one call between two services
// (Span), with its timing, outcome, resilience markers (retries, timeouts,
// circuit breaker, fallback) and injection markers.
//
// Files are Parquet. Create and WriteFile write them (dictionary and delta
// encodings, written atomically); Inputs turns command-line arguments
// (files, directories, globs) into a sorted list of files; Open checks each
// file's footer and schema before anything else reads it, and Scan streams
// the columns a stage asks for in batches, on several workers, with every
// bad row counted by reason (BadRows) instead of read. ReadFile and ReadAll
// load whole files for tests and small inputs. Importers from other trace
// formats live in ingest/importer.
package ingest
