package holtwinters

import "errors"

// Sentinel errors; Fit wraps them with the details (errors.Is works).
var (
	// ErrTooShort reports a series too short for the requested model.
	ErrTooShort = errors.New("series too short")
	// ErrNonFinite reports a NaN or infinite value in the series.
	ErrNonFinite = errors.New("value is not a finite number")
	// ErrNonPositive reports a value <= 0 in a series given to a
	// multiplicative model.
	ErrNonPositive = errors.New("multiplicative seasonality needs positive values")
	// ErrOptions reports invalid Options.
	ErrOptions = errors.New("invalid options")
)
