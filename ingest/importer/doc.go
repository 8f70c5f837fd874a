// Package importer turns trace files (OTLP JSON and protobuf, Jaeger JSON,
// Zipkin v2 JSON and CSV exports) into span schema v1 call records.
//
// Each parser yields the spans of a file one by one; spans are grouped by
// trace in a bounded buffer, and each trace is resolved into calls between
// services: the callee is the span's service, the caller the service of the
// nearest ancestor in another service, and a client span and the server span
// it caused become one call with the client's latency. Messy input (orphans,
// duplicate ids, clock skew, missing times, cycles) is counted by reason in a
// Report; docs/import.md says what is kept.
package importer
