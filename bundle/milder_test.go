package bundle

import "testing"

func TestMilder(t *testing.T) {
	abort := Fault{Type: FaultAbort, HTTPStatus: 504}
	latency := Fault{Type: FaultLatency, DelayMs: 78, JitterMs: 18}
	for _, tc := range []struct {
		from, want Fault
		ok         bool
	}{
		{Fault{Type: FaultDrop}, abort, true},
		{Fault{Type: FaultCorrupt, Mode: CorruptTruncate}, abort, true},
		{abort, latency, true},
		{latency, Fault{Type: FaultLatency, DelayMs: 39, JitterMs: 9}, true},
		{Fault{Type: FaultLatency, DelayMs: 77, JitterMs: 17}, Fault{Type: FaultLatency, DelayMs: 38, JitterMs: 8.5}, true},
		{Fault{Type: FaultLatency, Factor: 3}, Fault{Type: FaultLatency, Factor: 2}, true},
		{Fault{Type: FaultLatency, DelayMs: 100, Factor: 1.08}, Fault{Type: FaultLatency, DelayMs: 50}, true},
		{Fault{Type: FaultLatency, DelayMs: 1.5, JitterMs: 1}, Fault{Type: FaultLatency, DelayMs: 1.5, JitterMs: 1}, false},
		{Fault{Type: FaultLatency, DelayMs: 1.5, Factor: 3}, Fault{Type: FaultLatency, Factor: 2}, true},
	} {
		got, ok := Milder(tc.from, abort, latency)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Milder(%+v) = %+v, %v; want %+v, %v", tc.from, got, ok, tc.want, tc.ok)
		}
		if ok && Harshness(got.Type) > Harshness(tc.from.Type) {
			t.Errorf("Milder(%+v) = %+v is harsher", tc.from, got)
		}
	}
	// Without the edge's abort or latency fault the ladder stops.
	if _, ok := Milder(Fault{Type: FaultDrop}, Fault{}, latency); ok {
		t.Error("drop stepped down without an abort fault")
	}
	if _, ok := Milder(abort, abort, Fault{}); ok {
		t.Error("abort stepped down without a latency fault")
	}
}
