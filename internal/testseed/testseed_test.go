package testseed

import "testing"

func TestSeedFromEnv(t *testing.T) {
	t.Setenv(Env, "42")
	if got := Seed(t); got != 42 {
		t.Errorf("Seed = %d, want 42", got)
	}
}
