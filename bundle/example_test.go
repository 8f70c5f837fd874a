package bundle_test

import (
	"errors"
	"fmt"

	"github.com/chaosgen/chaosgen/bundle"
)

func ExampleDecode() {
	_, err := bundle.Decode([]byte(`{"apiVersion": "chaosgen/v1", "kind": "ProfileBundle", "extra": true}`))
	fmt.Println(err)
	fmt.Println(errors.Is(err, bundle.ErrInvalid))
	// Output:
	// unknown field "extra"
	// true
}

func ExampleRound() {
	fmt.Println(bundle.Round(0.1234567), bundle.Round(1e-7), bundle.Round(2500))
	// Output: 0.123457 0 2500
}
