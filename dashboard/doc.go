// Package dashboard serves the chaosgen web UI and writes the static HTML
// report: the service graph coloured by anomaly or resilience, per-edge
// charts with the Holt-Winters forecast band and the injection activity,
// the bundle's profiles (edit, simulate, save a re-signed copy) and a live
// injector's scenarios.
//
// Everything shown is computed before serving by Load, from the files named
// on the command line (an analysis directory, optionally a bundle, a replay
// directory and span files); charts and the graph are SVG rendered in Go,
// and the few scripts (pan and zoom, sorting, filtering, editing) are
// embedded, so the UI works without network access. The server binds to
// loopback by default, refuses other clients then, and accepts a
// state-changing request only with the per-run token of its pages and from
// its own origin.
package dashboard
