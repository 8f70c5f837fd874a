package inject

import (
	"errors"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/usage"
)

func TestConfigCheck(t *testing.T) {
	ok := func() Config {
		return Config{Bundle: "b.json", Verify: bundle.VerifyOptions{PublicKey: "k.pub"}, Upstream: "http://127.0.0.1:8080", Service: "cart",
			IdleTimeout: time.Minute, HeadTimeout: time.Second, CorruptMaxBytes: 1 << 20}
	}
	if c := ok(); c.Check() != nil {
		t.Fatalf("a good config: %v", c.Check())
	}
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Bundle = "" }, "--bundle is required"},
		{func(c *Config) { c.Verify = bundle.VerifyOptions{} }, "give --pub KEY.pub or --allowed-signers FILE --identity ID"},
		{func(c *Config) { c.Verify.AllowedSigners = "a" }, "--pub and --allowed-signers exclude each other"},
		{func(c *Config) { c.Upstream = "" }, "--upstream is required"},
		{func(c *Config) { c.Service = "" }, "--service is required"},
		{func(c *Config) { c.Upstream = "127.0.0.1:8080" }, "--upstream 127.0.0.1:8080 has no scheme: write http://127.0.0.1:8080"},
		{func(c *Config) { c.Upstream = "ftp://x" }, "--upstream ftp://x: want an http:// URL such as http://127.0.0.1:8080"},
		{func(c *Config) { c.BusyPoll = time.Second }, "--busy-poll 1s: want 0 (off) to 10ms; 20us-100us is typical"},
		{func(c *Config) { c.MaxConns = -1 }, "--max-conns -1: want 0 (from the open file limit) or a positive cap"},
		{func(c *Config) { c.IdleTimeout = 0 }, "--idle-timeout and --header-timeout must be positive"},
		{func(c *Config) { c.CorruptMaxBytes = 0 }, "--corrupt-max-bytes must be positive"},
	} {
		c := ok()
		tc.edit(&c)
		if err := c.Check(); err == nil || err.Error() != tc.want || !errors.Is(err, usage.Err) {
			t.Errorf("%v, want usage error %q", err, tc.want)
		}
	}
}
