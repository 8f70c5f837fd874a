package importer

import (
	"strings"

	"github.com/chaosgen/chaosgen/internal/usage"
)

// Flags are chaosgen import's options as its flags give them.
type Flags struct {
	From, Output, Preset, Mapping string
	TimeUnit, DurationUnit        string
	ServiceRegexp, RootParents    string
	InferClients                  bool
	MaxOpenSpans                  int
}

// Options checks f, as chaosgen import's flags fill it, and builds
// Import's options. Its errors match usage.Err and name the flags.
func (f Flags) Options() (Options, error) {
	var opt Options
	if f.Output == "" {
		return opt, usage.Errorf("-o is required")
	}
	format, err := ParseFormat(f.From)
	if err != nil {
		return opt, usage.Errorf("--from: %v", err)
	}
	opt.Format, opt.MaxOpenSpans = format, f.MaxOpenSpans
	csvFlags := f.Preset != "" || f.Mapping != "" || f.TimeUnit != "" || f.DurationUnit != "" ||
		f.ServiceRegexp != "" || f.RootParents != "" || f.InferClients
	if !csvFlags {
		return opt, nil
	}
	if format != FormatCSV && format != FormatAuto {
		return opt, usage.Errorf("csv flags (--preset, --map, ...) need --from csv")
	}
	m := &CSVMapping{}
	if f.Preset != "" {
		p, ok := Presets[f.Preset]
		if !ok {
			return opt, usage.Errorf("--preset %q: want one of %s", f.Preset, strings.Join(PresetNames(), ", "))
		}
		m = &p
		cols := map[string]string{}
		for k, v := range p.Columns {
			cols[k] = v
		}
		m.Columns = cols
	}
	if err := m.ParseColumns(f.Mapping); err != nil {
		return opt, usage.Errorf("%v", err)
	}
	for _, u := range []struct {
		flag, v string
		dst     *int64
	}{{"--time-unit", f.TimeUnit, (*int64)(&m.TimeUnit)}, {"--duration-unit", f.DurationUnit, (*int64)(&m.DurationUnit)}} {
		if u.v == "" {
			continue
		}
		d, err := ParseUnit(u.v)
		if err != nil {
			return opt, usage.Errorf("%s: %v", u.flag, err)
		}
		*u.dst = int64(d)
	}
	if f.ServiceRegexp != "" {
		m.ServiceRegexp = f.ServiceRegexp
	}
	if f.RootParents != "" {
		m.RootParents = strings.Split(f.RootParents, ",")
	}
	m.InferClients = m.InferClients || f.InferClients
	if err := m.Check(); err != nil {
		return opt, usage.Errorf("%v", err)
	}
	opt.Format, opt.CSV = FormatCSV, m
	return opt, nil
}
