package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/chaosgen/chaosgen/ingest/importer"
	"github.com/spf13/cobra"
)

type importOptions struct {
	from, out, preset, mapping string
	timeUnit, durationUnit     string
	serviceRegexp, rootParents string
	inferClients               bool
	maxOpenSpans               int
	json                       bool
}

func newImportCmd() *cobra.Command {
	var o importOptions
	cmd := &cobra.Command{
		Use:   "import FILES... -o spans.parquet",
		Short: "Turn OTLP, Jaeger, Zipkin or CSV trace files into span records",
		Long: `import reads trace files (OTLP JSON or protobuf, Tempo's trace JSON, Jaeger
JSON, Zipkin v2 JSON, CSV with a column mapping; any of them gzip or zstd
compressed) and writes one span-schema-v1 row per call between services. It
reads the OpenTelemetry semantic conventions, current names and old: calls to
databases, caches, queues and external APIs without a server span become
calls to the callee their attributes name; errors follow the span kind;
timeouts and retries come from error.type, status codes and resend counts.
It prints a report: spans read, calls written, edges (with timeouts and
retries), and the messy input it met (orphans, duplicates, clock skew,
missing times, cycles). See docs/import.md.`,
		Args: cobra.MinimumNArgs(1),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opt, err := o.options()
		if err != nil {
			return err
		}
		if err := checkOutputFile("import", o.out, "spans.parquet"); err != nil {
			return err
		}
		for _, a := range args {
			if fi, err := os.Stat(a); err == nil && fi.IsDir() {
				return usagef("import: %s is a directory: give the trace files in it, e.g. %s", a, filepath.Join(a, "*.json"))
			}
		}
		return runImport(cmd.OutOrStdout(), args, o, opt)
	}
	f := cmd.Flags()
	f.StringVar(&o.from, "from", "auto", "input format: auto, otlp-json, otlp-proto, jaeger-json, zipkin-json or csv")
	f.StringVarP(&o.out, "output", "o", "", "span file to write (Parquet, schema v1)")
	f.StringVar(&o.preset, "preset", "", "csv column mapping preset: "+strings.Join(importer.PresetNames(), ", "))
	f.StringVar(&o.mapping, "map", "", "csv columns as field=Column,...; fields: "+strings.Join(importer.CSVFields, ", "))
	f.StringVar(&o.timeUnit, "time-unit", "", "csv unit of numeric start and end times: s, ms, us, ns (default ns, or the preset's)")
	f.StringVar(&o.durationUnit, "duration-unit", "", "csv unit of the duration column (default: --time-unit)")
	f.StringVar(&o.serviceRegexp, "service-regexp", "", "csv: regular expression on the service column; its first group is the service")
	f.StringVar(&o.rootParents, "root-parent", "", "csv: comma-separated parent values meaning no parent (e.g. -1,root)")
	f.BoolVar(&o.inferClients, "infer-clients", false, "csv without span kinds: a span whose only child runs in another service is that call's client side")
	f.IntVar(&o.maxOpenSpans, "max-open-spans", importer.DefaultMaxOpenSpans, "spans held in open traces before the oldest traces are resolved")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

// options checks the flags and builds the importer's options.
func (o importOptions) options() (importer.Options, error) {
	var opt importer.Options
	if o.out == "" {
		return opt, usagef("import: -o is required")
	}
	format, err := importer.ParseFormat(o.from)
	if err != nil {
		return opt, usagef("import: --from: %v", err)
	}
	opt.Format, opt.MaxOpenSpans = format, o.maxOpenSpans
	csvFlags := o.preset != "" || o.mapping != "" || o.timeUnit != "" || o.durationUnit != "" ||
		o.serviceRegexp != "" || o.rootParents != "" || o.inferClients
	if !csvFlags {
		return opt, nil
	}
	if format != importer.FormatCSV && format != importer.FormatAuto {
		return opt, usagef("import: csv flags (--preset, --map, ...) need --from csv")
	}
	m := &importer.CSVMapping{}
	if o.preset != "" {
		p, ok := importer.Presets[o.preset]
		if !ok {
			return opt, usagef("import: --preset %q: want one of %s", o.preset, strings.Join(importer.PresetNames(), ", "))
		}
		m = &p
		cols := map[string]string{}
		for k, v := range p.Columns {
			cols[k] = v
		}
		m.Columns = cols
	}
	if err := m.ParseColumns(o.mapping); err != nil {
		return opt, usagef("import: %v", err)
	}
	for _, u := range []struct {
		flag, v string
		dst     *int64
	}{{"--time-unit", o.timeUnit, (*int64)(&m.TimeUnit)}, {"--duration-unit", o.durationUnit, (*int64)(&m.DurationUnit)}} {
		if u.v == "" {
			continue
		}
		d, err := importer.ParseUnit(u.v)
		if err != nil {
			return opt, usagef("import: %s: %v", u.flag, err)
		}
		*u.dst = int64(d)
	}
	if o.serviceRegexp != "" {
		m.ServiceRegexp = o.serviceRegexp
	}
	if o.rootParents != "" {
		m.RootParents = strings.Split(o.rootParents, ",")
	}
	m.InferClients = m.InferClients || o.inferClients
	if err := m.Check(); err != nil {
		return opt, usagef("import: %v", err)
	}
	opt.Format, opt.CSV = importer.FormatCSV, m
	return opt, nil
}

func runImport(w io.Writer, files []string, o importOptions, opt importer.Options) error {
	rep, err := importer.Import(o.out, files, opt)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if o.json {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	if err := rep.Print(w); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "wrote %s\n", o.out)
	return err
}
