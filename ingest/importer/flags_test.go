package importer

import (
	"errors"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/internal/usage"
)

func TestFlagsOptions(t *testing.T) {
	for _, tc := range []struct {
		f    Flags
		want string
	}{
		{Flags{From: "auto"}, "-o is required"},
		{Flags{From: "xml", Output: "o.parquet"}, "--from: "},
		{Flags{From: "jaeger-json", Output: "o.parquet", Preset: "alibaba"}, "csv flags (--preset, --map, ...) need --from csv"},
		{Flags{From: "csv", Output: "o.parquet", Preset: "nosuch"}, `--preset "nosuch": want one of`},
		{Flags{From: "csv", Output: "o.parquet", Mapping: "trace_id=A", TimeUnit: "fortnights"}, "--time-unit: "},
	} {
		_, err := tc.f.Options()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, usage.Err) {
			t.Errorf("%+v: %v, want a usage error containing %q", tc.f, err, tc.want)
		}
	}
	opt, err := Flags{From: "otlp-json", Output: "o.parquet", MaxOpenSpans: 7}.Options()
	if err != nil || opt.Format != FormatOTLPJSON || opt.MaxOpenSpans != 7 || opt.CSV != nil {
		t.Errorf("otlp-json: %+v, %v", opt, err)
	}
	opt, err = Flags{From: "auto", Output: "o.parquet", Preset: PresetNames()[0]}.Options()
	if err != nil || opt.Format != FormatCSV || opt.CSV == nil {
		t.Errorf("a preset with --from auto: %+v, %v; want csv", opt, err)
	}
}
