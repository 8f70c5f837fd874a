package evaluate

import (
	"cmp"
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
)

// injection is one injected call of the records.
type injection struct {
	caller, callee, profile, fault string
	at                             int64
	file                           int
	path                           string
	row                            int64
}

func compareInjections(a, b injection) int {
	return cmp.Or(cmp.Compare(a.caller, b.caller), cmp.Compare(a.callee, b.callee),
		cmp.Compare(a.profile, b.profile), cmp.Compare(a.at, b.at),
		cmp.Compare(a.file, b.file), cmp.Compare(a.row, b.row))
}

// readRecords reads injection records: span files (a file, a directory or
// a glob) whose rows with injected=true are the injected calls, as
// chaosgen inject --records and chaosgen replay write them. The calls of
// one caller→callee edge and fault profile form one incident while they
// are less than gap apart; the incident starts at the first injected call
// (injected_at_unix_nano, else start_unix_nano) and ends at the last. Its
// kind is the fault types that fired, joined by "+".
func readRecords(path string, gap time.Duration, t *Truth) error {
	paths, err := ingest.Inputs([]string{path})
	if err != nil {
		return err
	}
	files, err := ingest.Open(paths)
	if err != nil {
		return err
	}
	defer files.Close()
	cols := []ingest.Column{ingest.ColCaller, ingest.ColCallee, ingest.ColInjected, ingest.ColFaultType,
		ingest.ColFaultProfileID, ingest.ColInjectedAtUnixNano}
	workers := runtime.GOMAXPROCS(0)
	perWorker := make([][]injection, workers)
	badPerWorker := make([][]injection, workers)
	_, err = files.Scan(context.Background(), ingest.ScanOptions{Columns: cols, Workers: workers}, func(w int, b *ingest.Batch) error {
		inj := b.Bool[ingest.ColInjected]
		for i := 0; i < b.N; i++ {
			if !inj[i] {
				continue
			}
			at := b.I64[ingest.ColInjectedAtUnixNano][i]
			if at == 0 {
				at = b.I64[ingest.ColStartUnixNano][i]
			}
			in := injection{
				caller: string(b.Str[ingest.ColCaller].Value(i)), callee: string(b.Str[ingest.ColCallee].Value(i)),
				profile: string(b.Str[ingest.ColFaultProfileID].Value(i)), fault: string(b.Str[ingest.ColFaultType].Value(i)),
				at: at, file: b.FileIndex, path: b.File, row: b.FirstRow + int64(i),
			}
			if b.Bad[i] != ingest.ReasonOK {
				in.fault = b.Bad[i].String()
				badPerWorker[w] = append(badPerWorker[w], in)
				continue
			}
			perWorker[w] = append(perWorker[w], in)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	bad := slices.Concat(badPerWorker...)
	if len(bad) > 0 {
		slices.SortFunc(bad, func(a, b injection) int { return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.row, b.row)) })
		re := &rowErrors{}
		for _, in := range bad {
			re.path = in.path // the rows of a directory are in several files
			re.add(fmt.Sprintf("row %d", in.row), "", "injected call with %s", strings.ReplaceAll(in.fault, "_", " "))
		}
		re.path = path
		return re.err()
	}
	all := slices.Concat(perWorker...)
	if len(all) == 0 {
		return fmt.Errorf("%s: no row has injected=true in %d span file(s) of %d rows: not injection records, or no fault fired", path, len(paths), files.Rows)
	}
	slices.SortFunc(all, compareInjections)
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && sameEpisode(all[j-1], all[j]) && all[j].at-all[j-1].at < int64(gap) {
			j++
		}
		var faults []string
		for _, in := range all[i:j] {
			if in.fault != "" && !slices.Contains(faults, in.fault) {
				faults = append(faults, in.fault)
			}
		}
		slices.Sort(faults)
		kind := strings.Join(faults, "+")
		if kind == "" {
			kind = "injected"
		}
		first := all[i]
		t.Incidents = append(t.Incidents, Incident{
			StartUnixNano: first.at, EndUnixNano: all[j-1].at,
			Service: first.callee, Edge: true, Caller: first.caller, Callee: first.callee,
			Kind: kind, Source: fmt.Sprintf("%s: row %d (%d injected calls, profile %q)", first.path, first.row, j-i, first.profile),
		})
		i = j
	}
	return nil
}

func sameEpisode(a, b injection) bool {
	return a.caller == b.caller && a.callee == b.callee && a.profile == b.profile
}
