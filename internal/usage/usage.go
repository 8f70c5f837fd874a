// Package usage marks errors in how a library entry point was called (a
// bad option, options that exclude each other), so that the command that
// passed the option on reports it as a usage error (exit code 2) without
// checking it a second time.
package usage

import (
	"errors"
	"fmt"
)

// Err is matched, under errors.Is, by every error that Errorf and Wrap
// return.
var Err = errors.New("usage error")

// errorT is an error in how something was called; its text is the wrapped
// error's, unchanged.
type errorT struct{ err error }

func (e errorT) Error() string        { return e.err.Error() }
func (e errorT) Unwrap() error        { return e.err }
func (e errorT) Is(target error) bool { return target == Err }

// Errorf formats an error (as fmt.Errorf) that matches Err.
func Errorf(format string, args ...any) error {
	return errorT{fmt.Errorf(format, args...)}
}

// Wrap returns err marked as a usage error; nil stays nil.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	return errorT{err}
}
