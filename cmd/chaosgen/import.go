package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/chaosgen/chaosgen/ingest/importer"
	"github.com/chaosgen/chaosgen/internal/objstore"
	"github.com/spf13/cobra"
)

type importOptions struct {
	importer.Flags
	json bool
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
missing times, cycles). See docs/import.md.

FILES and -o may be s3://, gs:// or azblob:// URLs of objects (not
prefixes; docs/storage.md): each input object is read whole, in one
request, and the span file is written locally, then uploaded as one object;
the bytes fetched of each object and uploaded are printed to stderr.`,
		Example: `  chaosgen import traces/*.json -o out/spans.parquet
  chaosgen import s3://traces/otel/2026-01-05.json.gz -o s3://traces/spans/2026-01-05.parquet`,
		Args: cobra.MinimumNArgs(1),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		opt, err := o.Options()
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if !objstore.IsURL(o.Output) {
			if err := checkOutputFile("import", o.Output, "spans.parquet"); err != nil {
				return err
			}
		}
		store := objstore.New(cmd.Context())
		defer store.Close()
		for _, a := range args {
			if fi, err := os.Stat(a); err == nil && fi.IsDir() {
				return usagef("import: %s is a directory: give the trace files in it, e.g. %s", a, filepath.Join(a, "*.json"))
			}
		}
		files, err := store.Objects(args)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		opt.Open = store.OpenFile
		return runImport(cmd.OutOrStdout(), cmd.ErrOrStderr(), store, files, o, opt)
	}
	f := cmd.Flags()
	f.StringVar(&o.From, "from", "auto", "input format: auto, otlp-json, otlp-proto, jaeger-json, zipkin-json or csv")
	f.StringVarP(&o.Output, "output", "o", "", "span file to write (Parquet, schema v1), or object URL")
	f.StringVar(&o.Preset, "preset", "", "csv column mapping preset: "+strings.Join(importer.PresetNames(), ", "))
	f.StringVar(&o.Mapping, "map", "", "csv columns as field=Column,...; fields: "+strings.Join(importer.CSVFields, ", "))
	f.StringVar(&o.TimeUnit, "time-unit", "", "csv unit of numeric start and end times: s, ms, us, ns (default ns, or the preset's)")
	f.StringVar(&o.DurationUnit, "duration-unit", "", "csv unit of the duration column (default: --time-unit)")
	f.StringVar(&o.ServiceRegexp, "service-regexp", "", "csv: regular expression on the service column; its first group is the service")
	f.StringVar(&o.RootParents, "root-parent", "", "csv: comma-separated parent values meaning no parent (e.g. -1,root)")
	f.BoolVar(&o.InferClients, "infer-clients", false, "csv without span kinds: a span whose only child runs in another service is that call's client side")
	f.IntVar(&o.MaxOpenSpans, "max-open-spans", importer.DefaultMaxOpenSpans, "spans held in open traces before the oldest traces are resolved")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	return cmd
}

func runImport(w, stderr io.Writer, store *objstore.Store, files []string, o importOptions, opt importer.Options) error {
	var rep *importer.Report
	err := store.WriteFile(o.Output, func(path string) (err error) {
		rep, err = importer.Import(path, files, opt)
		return err
	})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := store.WriteReport(stderr); err != nil {
		return err
	}
	if o.json {
		return printJSON(w, rep)
	}
	if err := rep.Print(w); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "wrote %s\n", objstore.Name(o.Output))
	return err
}
