// Package testseed gives randomised tests a seed that a failure can be
// replayed with: CHAOSGEN_TEST_SEED when set, else a fresh one, logged
// either way.
package testseed

import (
	"os"
	"strconv"
	"testing"
	"time"
)

// Env names the variable that fixes the seed.
const Env = "CHAOSGEN_TEST_SEED"

// Seed returns the seed of a randomised test and logs it with the command
// line that replays it.
func Seed(t testing.TB) uint64 {
	t.Helper()
	if s := os.Getenv(Env); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: want an unsigned integer", Env, s)
		}
		t.Logf("seed %d (from %s)", seed, Env)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (replay with %s=%d)", seed, Env, seed)
	return seed
}
