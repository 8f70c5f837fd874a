package evaluate

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzReadTruth: any truth file either reads into incidents that each have
// a service and a positive start, or is an error; it never panics.
func FuzzReadTruth(f *testing.F) {
	f.Add([]byte("start,end,service,kind\n2026-01-05T10:02:30Z,,payment,latency\n1767607560,1767607600,db,errors\n"))
	f.Add([]byte("Start, Caller, Callee\n1767607560000000000,,frontend\n"))
	f.Add([]byte(`{"08": [{"inject_time": "2023-01-29 08:43:04", "inject_timestamp": "1674953044", "inject_pod": "ts-contacts-service-866bd68c97-xcqfx", "inject_type": "return"}]}`))
	f.Add([]byte(`{"incidents": [{"caller": "a", "callee": "b", "kind": "latency", "start_unix_nano": 1, "end_unix_nano": 2}]}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "truth")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		tr, err := ReadTruth(p, FormatAuto, time.Minute)
		if err != nil {
			return
		}
		for _, in := range tr.Incidents {
			if in.Service == "" || in.StartUnixNano <= 0 {
				t.Errorf("incident %+v from %q", in, data)
			}
		}
	})
}
