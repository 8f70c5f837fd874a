package importer

import (
	"os"
	"path/filepath"
	"testing"
	"github.com/chaosgen/chaosgen/ingest"
)

func TestScratch(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/data/traces/*/*.*")
	for _, f := range files {
		if filepath.Ext(f) != ".json" && filepath.Ext(f) != ".csv" { continue }
		var calls []ingest.Span
		rep, err := Run([]string{f}, Options{}, func(s []ingest.Span) error { calls = append(calls, s...); return nil })
		if err != nil { t.Errorf("%s: %v", f, err); continue }
		rep.Print(os.Stdout)
		if len(calls) < 20 { for _, c := range calls { t.Logf("%+v", c) } }
	}
}
