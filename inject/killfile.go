package inject

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// KillFileOn reports whether the content of a kill-switch file turns the
// kill switch on: "1", "true", "on", "yes", "kill" or "killed" (case and
// surrounding space ignored) turn it on; empty, "0", "false", "off" and
// "no" leave it off; anything else turns it on, since a switch whose
// meaning is unclear must stop injection rather than let it run.
func KillFileOn(content string) bool {
	switch strings.ToLower(strings.TrimSpace(content)) {
	case "", "0", "false", "off", "no":
		return false
	}
	return true
}

// killFile is the fleet-wide kill switch: a file (a ConfigMap key mounted
// into every sidecar) that Serve reads at every poll. While it says on,
// injection is killed, and a POST /resume lasts only until the next poll;
// when it turns off again, the kill switch it set is lifted (a tripped
// guard breaker stays open). A missing file is off; a file that cannot be
// read is on.
type killFile struct {
	path string
	inj  *Injector
	log  *slog.Logger
	on   bool // the file turned the kill switch on
}

func (k *killFile) check() {
	data, err := os.ReadFile(k.path)
	on := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		on = true
		if !k.on {
			k.log.Error("kill file unreadable: treated as on", "path", k.path, "err", err)
		}
	default:
		on = KillFileOn(string(data))
	}
	switch {
	case on && (!k.on || !k.inj.killed.Load()):
		k.log.Warn("kill file says on", "path", k.path)
		k.inj.Kill()
		k.on = true
	case !on && k.on:
		k.on = false
		if k.inj.killed.Swap(false) {
			k.inj.log.Info("kill file says off: injection resumed", "path", k.path)
		}
	}
}
