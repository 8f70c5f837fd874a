// Command duckdb-bench runs the aggregation of `chaosgen analyze` (per
// caller→callee edge and per time window: counts, error/timeout/retry sums,
// mean, max, duration sum and exact p50/p90/p99) as one DuckDB SQL query over
// a span Parquet file, and times it end to end: planning, reading,
// aggregating and scanning every result row into Go values.
//
// It is a peer benchmark only; it lives in its own module so that chaosgen
// never links DuckDB (cgo). See README.md beside this file.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// whereClause is analyze's row validation: such rows are left out of every
// feature.
const whereClause = `duration_nano >= 0 AND depth >= 0 AND callee <> '' AND start_unix_nano <> 0`

// aggQuery is the edge-window and edge aggregation; %s is the quoted file
// path, %d the window in nanoseconds.
const aggQuery = `SELECT caller, callee, start_unix_nano // %d AS w,
       count(*) AS calls, sum(error::INT) AS errors, sum(timed_out::INT) AS timeouts,
       sum((retry_count > 0)::INT) AS retries, avg(duration_nano) AS mean, max(duration_nano) AS max,
       sum(duration_nano) AS dursum,
       quantile_cont(duration_nano, [0.5, 0.9, 0.99]) AS q
FROM read_parquet(%s)
WHERE ` + whereClause + `
GROUP BY GROUPING SETS ((caller, callee, w), (caller, callee))`

// distinctQuery counts distinct traces per edge (analyze's `traces`, from
// which criticality comes); %s is the count expression, then the quoted
// file path. A distinct count in aggQuery would be computed for both grouping
// sets, i.e. also per edge and window, which analyze does not do; so it is
// a second query, run only with --distinct. By default it is DuckDB's
// HyperLogLog approx_count_distinct, the counterpart of analyze's count
// (exact up to 4096 traces per edge, HyperLogLog beyond); --exact uses
// count(DISTINCT).
const distinctQuery = `SELECT caller, callee, %s AS traces
FROM read_parquet(%s)
WHERE ` + whereClause + `
GROUP BY caller, callee`

// tracesQuery is the main output of analyze's trace pass
// (features/traces.go) as SQL: per service (the callee of its calls) and
// window, over the calls without an injected fault, the number of calls,
// the mean and variance of ln(self time + 0.1 ms) in ms, the median self
// time, and the failed calls none of whose children failed. A call's self
// time is its duration minus the union of its children's intervals (the
// calls whose parent_span_id is its span_id in the same trace) clipped to
// its own: the children sorted by start within each parent, each adding
// the part of it past the furthest end before it. %[1]s is the quoted
// file path, %[2]d the window in nanoseconds. The ids are joined as
// DuckDB's 64-bit hash() of them, as analyze compares 64-bit hashes of
// them (ingest.HashID): about half the time of joining the strings, the
// same calls and own errors in every service-window of the 10M-span file.
// analyze also counts trace ends and trace outcomes in the same pass;
// those are not here.
const tracesQuery = `WITH s AS (
  SELECT hash(trace_id) AS trace_id, hash(span_id) AS span_id,
         CASE WHEN parent_span_id <> '' THEN hash(parent_span_id) END AS parent_span_id,
         callee, injected, error,
         start_unix_nano AS st, start_unix_nano + duration_nano AS en
  FROM read_parquet(%[1]s) WHERE ` + whereClause + `
), k AS (
  SELECT p.trace_id, p.span_id, c.error AS kerr,
         greatest(c.st, p.st) AS lo, least(c.en, p.en) AS hi
  FROM s AS c JOIN s AS p ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
), o AS (
  SELECT trace_id, span_id, kerr, lo, hi,
         max(CASE WHEN hi > lo THEN hi END) OVER (PARTITION BY trace_id, span_id ORDER BY lo, hi
           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev
  FROM k
), c AS (
  SELECT trace_id, span_id,
         sum(CASE WHEN hi > lo THEN greatest(0, hi - greatest(lo, coalesce(prev, lo))) ELSE 0 END) AS covered,
         bool_or(kerr) AS kid_err
  FROM o GROUP BY trace_id, span_id
)
SELECT callee, st // %[2]d AS w, count(*) AS calls,
       avg(ln(x)) AS self_log_mean, var_pop(ln(x)) AS self_log_var, quantile_cont(x - 0.1, 0.5) AS self_p50_ms,
       sum(own::INT) AS own_errors
FROM (SELECT s.callee, s.st, (s.en - s.st - coalesce(c.covered, 0) + 100000) / 1e6 AS x,
             s.error AND NOT coalesce(c.kid_err, false) AS own
      FROM s LEFT JOIN c ON s.trace_id = c.trace_id AND s.span_id = c.span_id
      WHERE NOT s.injected)
GROUP BY callee, w`

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "duckdb-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	file := flag.String("file", "", "span Parquet file (schema v1)")
	window := flag.Duration("window", time.Minute, "window length")
	runs := flag.Int("runs", 3, "timed runs")
	threads := flag.Int("threads", 0, "DuckDB threads (0: DuckDB's default, all cores)")
	distinct := flag.Bool("distinct", false, "also time the distinct traces per edge (approx_count_distinct) as a second query")
	exact := flag.Bool("exact", false, "with --distinct: count(DISTINCT trace_id) instead of approx_count_distinct")
	traces := flag.Bool("traces", false, "also time the trace pass's service windows (self times, own errors) as a third query")
	flag.Parse()
	if *file == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *window <= 0 || *runs < 1 || *threads < 0 {
		return errors.New("--window and --runs must be positive, --threads not negative")
	}
	if _, err := os.Stat(*file); err != nil {
		return err
	}

	ctx := context.Background()
	db, err := sql.Open("duckdb", "") // in-memory
	if err != nil {
		return err
	}
	defer db.Close()
	// One connection: settings are per database anyway, and the queries run
	// one after the other.
	db.SetMaxOpenConns(1)
	if *threads > 0 {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("SET threads = %d", *threads)); err != nil {
			return err
		}
	}
	var nthreads int64
	if err := db.QueryRowContext(ctx, "SELECT current_setting('threads')").Scan(&nthreads); err != nil {
		return err
	}
	var version string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		return err
	}

	path := sqlString(*file)
	// The row count from the Parquet footer (untimed).
	var rows int64
	if err := db.QueryRowContext(ctx, "SELECT sum(num_rows)::BIGINT FROM parquet_file_metadata("+path+")").Scan(&rows); err != nil {
		return fmt.Errorf("reading the parquet metadata: %w", err)
	}
	fmt.Printf("duckdb %s, threads=%d (GOMAXPROCS=%d, NumCPU=%d)\n", version, nthreads, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Printf("file %s: %d rows, window %s\n", *file, rows, *window)

	q := fmt.Sprintf(aggQuery, window.Nanoseconds(), path)
	count := "approx_count_distinct(trace_id)"
	if *exact {
		count = "count(DISTINCT trace_id)"
	}
	dq := fmt.Sprintf(distinctQuery, count, path)
	if *distinct {
		fmt.Printf("distinct traces per edge: %s\n", count)
	}

	tq := fmt.Sprintf(tracesQuery, path, window.Nanoseconds())

	var aggSecs, distSecs, bothSecs, traceSecs, allSecs []float64
	for i := 1; i <= *runs; i++ {
		secs, n, err := timeQuery(ctx, db, q)
		if err != nil {
			return fmt.Errorf("aggregation query: %w", err)
		}
		aggSecs = append(aggSecs, secs)
		fmt.Printf("run %d: %.3f s, %d rows, %.0f spans/s, %d result rows\n", i, secs, rows, float64(rows)/secs, n)
		if *distinct {
			dsecs, dn, err := timeQuery(ctx, db, dq)
			if err != nil {
				return fmt.Errorf("distinct query: %w", err)
			}
			distSecs = append(distSecs, dsecs)
			bothSecs = append(bothSecs, secs+dsecs)
			fmt.Printf("run %d distinct: %.3f s, %.0f spans/s, %d edges; both queries %.3f s, %.0f spans/s\n",
				i, dsecs, float64(rows)/dsecs, dn, secs+dsecs, float64(rows)/(secs+dsecs))
		}
		if *traces {
			tsecs, tn, err := timeQuery(ctx, db, tq)
			if err != nil {
				return fmt.Errorf("traces query: %w", err)
			}
			traceSecs = append(traceSecs, tsecs)
			all := secs + tsecs
			if *distinct {
				all += distSecs[len(distSecs)-1]
			}
			allSecs = append(allSecs, all)
			fmt.Printf("run %d traces: %.3f s, %d service-windows; all queries %.3f s, %.0f spans/s\n",
				i, tsecs, tn, all, float64(rows)/all)
		}
	}

	if *traces {
		t, a := median(traceSecs), median(allSecs)
		fmt.Printf("duckdb-traces spans/s=%.0f seconds=%.3f rows=%d threads=%d\n", float64(rows)/t, t, rows, nthreads)
		fmt.Printf("duckdb-all spans/s=%.0f seconds=%.3f rows=%d threads=%d\n", float64(rows)/a, a, rows, nthreads)
	}
	m := median(aggSecs)
	if *distinct {
		d, b := median(distSecs), median(bothSecs)
		fmt.Printf("duckdb-distinct spans/s=%.0f seconds=%.3f rows=%d threads=%d\n", float64(rows)/d, d, rows, nthreads)
		fmt.Printf("duckdb-with-distinct spans/s=%.0f seconds=%.3f rows=%d threads=%d\n", float64(rows)/b, b, rows, nthreads)
	}
	fmt.Printf("duckdb spans/s=%.0f seconds=%.3f rows=%d threads=%d\n", float64(rows)/m, m, rows, nthreads)
	return nil
}

// timeQuery runs q and scans every result row into Go values, returning the
// wall time in seconds and the number of result rows.
func timeQuery(ctx context.Context, db *sql.DB, q string) (float64, int, error) {
	start := time.Now()
	rs, err := db.QueryContext(ctx, q)
	if err != nil {
		return 0, 0, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return 0, 0, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rs.Next() {
		// Scanning into any keeps DuckDB's own Go types (string, int64,
		// *big.Int for HUGEINT sums, float64, []any for the quantile list):
		// every value is converted, nothing is skipped.
		if err := rs.Scan(ptrs...); err != nil {
			return 0, 0, err
		}
		n++
	}
	if err := rs.Err(); err != nil {
		return 0, 0, err
	}
	if err := rs.Close(); err != nil {
		return 0, 0, err
	}
	return time.Since(start).Seconds(), n, nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
