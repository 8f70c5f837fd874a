package bundle

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every error that says a bundle or its signature
// failed validation: malformed JSON, a schema violation, an expired bundle,
// a missing, tampered or untrusted signature. The CLI exits with code 3 on it.
var ErrInvalid = errors.New("invalid bundle")

// The kinds of invalid bundle that callers may want to tell apart. Each one
// matches ErrInvalid too under errors.Is.
var (
	// ErrUnsigned: the bundle has no signature file.
	ErrUnsigned error = &kindError{"unsigned"}
	// ErrBadSignature: the signature is malformed or does not match the
	// bundle bytes (the bundle or the signature changed after signing).
	ErrBadSignature error = &kindError{"bad signature"}
	// ErrUntrusted: the signature is valid but made by a key the verifier
	// does not accept.
	ErrUntrusted error = &kindError{"untrusted signer"}
	// ErrExpired: the bundle's notAfter time has passed.
	ErrExpired error = &kindError{"expired"}
)

type kindError struct{ msg string }

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == ErrInvalid }

// Error is a validation failure located in a bundle: the profile (when the
// problem is inside one) and the JSON path of the field.
type Error struct {
	Profile string // profile id; empty for bundle-level fields
	Index   int    // position in "profiles" when Profile is set or the id is missing; -1 otherwise
	Field   string // JSON path relative to the profile or the bundle, e.g. "fault.httpStatus"
	Msg     string
}

func (e *Error) Error() string {
	var where string
	switch {
	case e.Profile != "":
		where = fmt.Sprintf("profile %q", e.Profile)
	case e.Index >= 0:
		where = fmt.Sprintf("profiles[%d]", e.Index)
	}
	switch {
	case where != "" && e.Field != "":
		return where + ": " + e.Field + ": " + e.Msg
	case where != "":
		return where + ": " + e.Msg
	case e.Field != "":
		return e.Field + ": " + e.Msg
	}
	return e.Msg
}

// Is reports that every *Error is an ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func fieldErr(field, format string, args ...any) *Error {
	return &Error{Index: -1, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func profileErr(i int, id, field, format string, args ...any) *Error {
	return &Error{Profile: id, Index: i, Field: field, Msg: fmt.Sprintf(format, args...)}
}
