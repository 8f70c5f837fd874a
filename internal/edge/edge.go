// Package edge names a caller→callee edge of the service graph: the one key
// type and the one text form every package uses for an edge.
package edge

import "strings"

// Ingress is how an edge's empty caller (a call from outside the mesh) is
// written.
const Ingress = "(ingress)"

// Edge is one caller→callee edge; Caller is empty at the ingress.
type Edge struct{ Caller, Callee string }

// String writes the edge as "caller → callee", the empty caller as
// "(ingress)".
func (e Edge) String() string { return CallerName(e.Caller) + " → " + e.Callee }

// CallerName writes a caller: the empty caller as "(ingress)".
func CallerName(caller string) string {
	if caller == "" {
		return Ingress
	}
	return caller
}

// Compare orders edges by caller, then callee (the ingress first), as
// slices.SortFunc wants.
func Compare(a, b Edge) int {
	if c := strings.Compare(a.Caller, b.Caller); c != 0 {
		return c
	}
	return strings.Compare(a.Callee, b.Callee)
}
