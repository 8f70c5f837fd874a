#!/usr/bin/env bash
# chaosgen analyze against DuckDB on the same span file, measured in the same
# run. Invoked by `make bench-duckdb` (after `make build`); see README.md.
#
# Environment:
#   SPANS     span file (default bench/results/spans-10M.parquet; generated
#             with `chaosgen synth` when missing)
#   RUNS      timed runs of each side (default 3); the median is reported
#   WINDOW    window length for both (default 1m)
#   THREADS   DuckDB threads (default 0: all cores); analyze uses one
#             worker per CPU
#   DISTINCT  1: also time DuckDB's distinct traces per edge (analyze's
#             criticality) as a second query, with approx_count_distinct
#             (HyperLogLog, like analyze); exact: with count(DISTINCT);
#             default 0
#   TRACES    1: also time the trace pass's service windows (self times and
#             own errors per service and window, a self-join on span ids)
#             as a third query; default 0 (it takes DuckDB about ten times
#             the aggregation). analyze then runs with its models (the
#             default ANALYZE_FLAGS become ""): --no-models over spans
#             without injected calls skips the trace pass
#   SYNTH_DAYS, SYNTH_RPS  synth's --days and --rps when SPANS is generated
#             (default 1 and 10.5: about 10M spans)
#   ANALYZE_FLAGS  extra analyze flags (default --no-models: the same
#             per-edge, per-window aggregation DuckDB runs; set it to "" to
#             time analyze with its models too)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SPANS=${SPANS:-bench/results/spans-10M.parquet}
RUNS=${RUNS:-3}
WINDOW=${WINDOW:-1m}
THREADS=${THREADS:-0}
DISTINCT=${DISTINCT:-0}
TRACES=${TRACES:-0}
if [[ $TRACES == 1 ]]; then
	ANALYZE_FLAGS=${ANALYZE_FLAGS-}
else
	ANALYZE_FLAGS=${ANALYZE_FLAGS---no-models}
fi
SYNTH_DAYS=${SYNTH_DAYS:-1}
SYNTH_RPS=${SYNTH_RPS:-10.5}
BIN=bin/chaosgen
RESULTS=bench/results
OUT=$RESULTS/analysis
DUCK=$RESULTS/duckdb-bench
REPORT=$RESULTS/duckdb.txt

die() { echo "bench-duckdb: $*" >&2; exit 1; }

[[ -x $BIN ]] || die "$BIN is missing: run 'make build' (or 'make bench-duckdb')"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"
mkdir -p "$RESULTS"

if [[ ! -x /usr/bin/time ]]; then
	echo "== installing GNU time (/usr/bin/time) =="
	apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# median of the numbers on stdin, one a line
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) exit 1; if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# the kernel's transparent huge page setting (analyze asks for them where
# it is "madvise", docs/analysis.md), or "-" where it cannot be read
thp() { sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null | grep . || echo -; }
# max of the numbers on stdin
maxof() { sort -g | tail -n 1; }

# --- (a) the span file -------------------------------------------------------
if [[ ! -f $SPANS ]]; then
	echo "== generating $SPANS (--days $SYNTH_DAYS --rps $SYNTH_RPS; the default, about 10M spans, takes about a minute) =="
	mkdir -p "$(dirname "$SPANS")"
	"$BIN" synth -o "$SPANS" --days "$SYNTH_DAYS" --rps "$SYNTH_RPS" --services 30 --seed 1 | tee "$tmp/synth.txt"
	grep -oE '[0-9]+ spans' "$tmp/synth.txt" | head -n 1 | sed 's/^/synth wrote /'
fi
echo "== span file: $SPANS ($(du -h "$SPANS" | cut -f1)) =="

# --- (b) chaosgen analyze ----------------------------------------------------
# One untimed run for the span count (summary.json's top-level "rows", read
# without jq); it also warms the page cache for both sides.
"$BIN" analyze "$SPANS" -o "$OUT" --window "$WINDOW" --json >"$tmp/summary.json"
field() { sed -nE "s/^  \"$1\": ([0-9]+),?\$/\\1/p" "$tmp/summary.json" | head -n 1; }
ROWS=$(field rows)
EDGES=$(field edge_count)
WINDOWS=$(field window_count)
[[ -n $ROWS && $ROWS -gt 0 ]] || die "could not read the span count from 'analyze --json'"
echo "spans: $ROWS, edges: $EDGES, edge-windows: $WINDOWS"

# --- (c) DuckDB, built first: its fresh processes alternate with analyze's -----
echo "== building $DUCK (cgo, links DuckDB statically; the first build downloads ~30 MB and takes a while) =="
command -v "${CC:-gcc}" >/dev/null || die "cgo needs a C compiler (${CC:-gcc}); apt-get install -y gcc g++"
(cd bench/duckdb && GOWORK=off CGO_ENABLED=1 go build -buildvcs=false -o ../../"$DUCK" .)

# duckdb-bench's arguments but --runs: the file, the settings, the queries
dargs=(--file "$SPANS" --window "$WINDOW" --threads "$THREADS")
[[ $DISTINCT == 1 ]] && dargs+=(--distinct)
[[ $DISTINCT == exact ]] && dargs+=(--distinct --exact)
[[ $TRACES == 1 ]] && dargs+=(--traces)

# analyze and a DuckDB process doing the same job (duckdb-bench --runs 1:
# start, open an in-memory database, read the footer, run the queries)
# alternate, so that the VM's drift from minute to minute (a fifth, on the
# VM of docs/analysis.md) falls on both sides alike.
echo "== chaosgen analyze $ANALYZE_FLAGS and a fresh DuckDB process, alternating: $RUNS runs of each =="
: >"$tmp/chaosgen.times"
: >"$tmp/dproc.times"
for i in $(seq 1 "$RUNS"); do
	# shellcheck disable=SC2086 # ANALYZE_FLAGS is a list of flags
	/usr/bin/time -f '%e %M' -o "$tmp/time.txt" "$BIN" analyze "$SPANS" -o "$OUT" --window "$WINDOW" $ANALYZE_FLAGS >/dev/null
	read -r secs rss <"$tmp/time.txt"
	echo "$secs $rss" >>"$tmp/chaosgen.times"
	/usr/bin/time -f '%e %M' -o "$tmp/dproc.txt" "$DUCK" "${dargs[@]}" --runs 1 >/dev/null
	read -r dsecs drss <"$tmp/dproc.txt"
	echo "$dsecs $drss" >>"$tmp/dproc.times"
	awk -v i="$i" -v s="$secs" -v r="$rss" -v n="$ROWS" -v ds="$dsecs" \
		'BEGIN { printf "run %d: analyze %.2f s, %.0f spans/s, max RSS %.1f MiB; DuckDB process %.2f s\n", i, s, n / s, r / 1024, ds }'
done
C_SECS=$(cut -d' ' -f1 "$tmp/chaosgen.times" | median)
C_RSS=$(cut -d' ' -f2 "$tmp/chaosgen.times" | maxof)
C_RATE=$(awk -v n="$ROWS" -v s="$C_SECS" 'BEGIN { printf "%.0f", n / s }')
DP_SECS=$(cut -d' ' -f1 "$tmp/dproc.times" | median)
echo "chaosgen spans/s=$C_RATE seconds=$C_SECS rows=$ROWS max_rss_kb=$C_RSS"

# --- (d) analyze in one warm process, as DuckDB's queries run below -----------
# BenchmarkAnalyze/features is analysis.Run with --no-models's options, the
# same work as the analyze command but for the CLI; one iteration per -count,
# the first (cold: fresh memory, as a new process has it) left out.
W_SECS=
if [[ $ANALYZE_FLAGS == --no-models && $WINDOW == 1m ]]; then
	echo "== chaosgen analyze --no-models warm: $RUNS runs in one process (go test -bench BenchmarkAnalyze/features) =="
	go test -run '^$' -bench 'BenchmarkAnalyze/features$' -benchtime 1x -count $((RUNS + 1)) ./analysis -spans "$(realpath "$SPANS")" |
		tee "$tmp/warm.txt" | grep -E '^BenchmarkAnalyze' || die "BenchmarkAnalyze/features failed: $(tail -n 5 "$tmp/warm.txt")"
	W_SECS=$(awk '/^BenchmarkAnalyze/ { if (++n > 1) print $3 / 1e9 }' "$tmp/warm.txt" | median)
fi

# --- (e) DuckDB's queries in one warm process ------------------------------------
echo "== DuckDB: $RUNS runs in one process =="
/usr/bin/time -f '%e %M' -o "$tmp/dtime.txt" "$DUCK" "${dargs[@]}" --runs "$RUNS" | tee "$tmp/duckdb.txt"
read -r _ D_RSS <"$tmp/dtime.txt"
line=$(grep -E '^duckdb spans/s=' "$tmp/duckdb.txt") || die "no result line from duckdb-bench"
# the value of key $1 in the "key=value ..." line $2
kv() { tr ' ' '\n' <<<"$2" | sed -n "s|^$1=||p" | head -n 1; }
D_RATE=$(kv spans/s "$line")
D_SECS=$(kv seconds "$line")
D_ROWS=$(kv rows "$line")
D_THREADS=$(kv threads "$line")
D_VERSION=$(sed -nE 's/^duckdb (v[^,]+),.*/\1/p' "$tmp/duckdb.txt" | head -n 1)
D_RESULT=$(sed -nE 's/^run 1: .*, ([0-9]+) result rows$/\1/p' "$tmp/duckdb.txt")
WD_LINE=$(grep -E '^duckdb-with-distinct spans/s=' "$tmp/duckdb.txt" || true)
ALL_LINE=$(grep -E '^duckdb-all spans/s=' "$tmp/duckdb.txt" || true)

[[ $D_ROWS == "$ROWS" ]] || echo "WARNING: span counts differ: chaosgen $ROWS, DuckDB $D_ROWS" >&2
if [[ -n $EDGES && -n $WINDOWS && -n $D_RESULT && $D_RESULT != $((EDGES + WINDOWS)) ]]; then
	echo "WARNING: DuckDB returned $D_RESULT rows, analyze has $EDGES edges + $WINDOWS edge-windows" >&2
fi

# --- (f) summary ---------------------------------------------------------------
{
	echo "chaosgen analyze vs DuckDB, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), transparent huge pages: $(thp); $("$BIN" --version 2>/dev/null || echo chaosgen); duckdb ${D_VERSION:-?} (threads=$D_THREADS)"
	echo "file: $SPANS, $ROWS spans, window $WINDOW, median of $RUNS runs; $EDGES edges, $WINDOWS edge-windows; analyze flags: ${ANALYZE_FLAGS:-(none)}"
	echo
	awk -v n="$ROWS" -v cs="$C_SECS" -v cr="$C_RATE" -v crss="$C_RSS" \
		-v ds="$D_SECS" -v dr="$D_RATE" -v drss="$D_RSS" 'BEGIN {
		printf "%-36s %14s\n", "", "value"
		printf "%-36s %14.0f\n", "chaosgen spans/s", cr
		printf "%-36s %14.0f\n", "DuckDB spans/s", dr
		printf "%-36s %14.2f\n", "ratio chaosgen/DuckDB", cr / dr
		printf "%-36s %14.1f\n", "chaosgen peak RSS MiB", crss / 1024
		printf "%-36s %14.3f\n", "chaosgen seconds (process, median)", cs
		printf "%-36s %14.3f\n", "DuckDB seconds (query, median)", ds
		printf "%-36s %14.1f\n", "DuckDB peak RSS MiB (whole process)", drss / 1024
	}'
	if [[ -n $WD_LINE ]]; then
		WD_RATE=$(kv spans/s "$WD_LINE")
		WD_HOW=$(sed -n 's/^distinct traces per edge: //p' "$tmp/duckdb.txt" | head -n 1)
		echo "second DuckDB query: distinct traces per edge with ${WD_HOW:-?}"
		awk -v cr="$C_RATE" -v dr="$WD_RATE" 'BEGIN {
			printf "%-36s %14.0f\n", "DuckDB + distinct traces spans/s", dr
			printf "%-36s %14.2f\n", "ratio chaosgen/(DuckDB + distinct)", cr / dr
		}'
	fi
	if [[ -n $ALL_LINE ]]; then
		ALL_RATE=$(kv spans/s "$ALL_LINE")
		echo "third DuckDB query: the trace pass's service windows (self times, own errors)"
		awk -v cr="$C_RATE" -v dr="$ALL_RATE" 'BEGIN {
			printf "%-36s %14.0f\n", "DuckDB, all queries spans/s", dr
			printf "%-36s %14.2f\n", "ratio chaosgen/(DuckDB, all queries)", cr / dr
		}'
	fi
	QUERIES="the aggregation"
	[[ -n $WD_LINE ]] && QUERIES="$QUERIES and the distinct traces"
	[[ -n $ALL_LINE ]] && QUERIES="$QUERIES and the trace pass's service windows"
	echo "process against process, alternating with analyze: duckdb-bench --runs 1 ($QUERIES,"
	echo "  and its start, database, footer read), timed whole like analyze"
	awk -v cs="$C_SECS" -v ps="$DP_SECS" 'BEGIN {
		printf "%-36s %14.3f\n", "DuckDB seconds (process, median)", ps
		printf "%-36s %14.2f\n", "ratio chaosgen/DuckDB process", ps / cs
	}'
	if [[ -n $W_SECS ]]; then
		echo "warm against warm: analyze in one process (BenchmarkAnalyze/features, first run left out), as DuckDB's queries run"
		awk -v ws="$W_SECS" -v ds="$D_SECS" -v wd="$(kv seconds "$WD_LINE")" 'BEGIN {
			printf "%-36s %14.3f\n", "chaosgen seconds (warm, median)", ws
			printf "%-36s %14.2f\n", "ratio chaosgen warm/DuckDB", ds / ws
			if (wd != "") printf "%-36s %14.2f\n", "ratio chaosgen warm/(DuckDB + dist.)", wd / ws
		}'
	fi
	echo
	echo "chaosgen spans/s=$C_RATE seconds=$C_SECS rows=$ROWS max_rss_kb=$C_RSS"
	echo "$line"
	echo "duckdb-process seconds=$DP_SECS"
	[[ -z $W_SECS ]] || echo "chaosgen-warm seconds=$W_SECS"
} | tee "$REPORT"
echo "(written to $REPORT)"
