// Package profilegen turns the ranked findings of an analysis directory into
// a bundle of error profiles: which fault to inject on which caller→callee
// edge, how often, how severe it is and why, with the guards that bound the
// whole experiment.
//
// The pipeline is Load (summary.json with its findings, edges.parquet and,
// for the feedback loop, windows.parquet) then Generate, a pure function of
// the analysis and Options: the same analysis and options give the same
// bundle, whatever the order of the findings. When Options.Previous holds
// last night's bundle and the analysed spans contain its injections,
// Generate judges how the system responded to each profile and moves its
// rate up or down (see docs/generate.md for every rule).
package profilegen
