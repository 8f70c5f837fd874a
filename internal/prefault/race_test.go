//go:build race

package prefault

// raceDetector is set when the tests run under the race detector, whose
// shadow memory faults on the first write to any page, mapped or not.
const raceDetector = true
