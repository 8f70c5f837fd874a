#!/usr/bin/env bash
# make eval: how well chaosgen finds the root cause of real, labelled faults.
# For every run of the dev set (../shared/data/rca/nezha_dev/<run>/: minute
# trace files and a Nezha fault list), it imports the traces with
# `chaosgen import --from auto`, analyzes them with `chaosgen analyze`, and
# scores the analysis with `chaosgen evaluate --truth-format nezha`: per fault
# the rank of the faulty service in chaosgen's service ranking, its edge
# ranking and the naive baseline (window median latency over the edge's own
# median), and per run AC@1/AC@3/AC@5 of each. See docs/evaluate.md.
#
# Environment:
#   CHAOSGEN_SHARED  the shared data directory (default ../shared beside the
#                    repository, as for the tests)
#   OUT              where the spans, analyses and results go (default
#                    bench/results/eval)
#   AFTER            evaluate's --after (default 3m)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

SHARED=${CHAOSGEN_SHARED:-../shared}
DEV=$SHARED/data/rca/nezha_dev
OUT=${OUT:-bench/results/eval}
AFTER=${AFTER:-3m}
BIN=bin/chaosgen

die() { echo "eval: $*" >&2; exit 1; }

[[ -x $BIN ]] || die "$BIN is missing: run 'make build' (or 'make eval')"
[[ -d $DEV ]] || die "the dev set is missing: no directory $DEV. It is part of the shared data set that sits beside the repository as ../shared (set CHAOSGEN_SHARED to put it elsewhere)"

runs=()
for d in "$DEV"/*/; do
	d=${d%/}
	compgen -G "$d/*fault_list.json" >/dev/null && runs+=("$d")
done
((${#runs[@]})) || die "no runs in $DEV (want <run>/trace/*.csv[.gz] and <run>/*fault_list.json)"

mkdir -p "$OUT"
summary=$OUT/summary.txt
: >"$summary"

for d in "${runs[@]}"; do
	run=$(basename "$d")
	faults=("$d"/*fault_list.json)
	((${#faults[@]} == 1)) || die "$d: want one fault list, found ${#faults[@]}"
	out=$OUT/$run
	mkdir -p "$out"

	# the upstream minute files (.csv.gz): import reads gzip as it is
	traces=("$d"/trace/*)
	n=${#traces[@]}
	[[ -e ${traces[0]} ]] || n=0
	((n)) || die "$d/trace: no trace files"

	echo "== $run: importing $n trace files =="
	"$BIN" import --from auto "${traces[@]}" -o "$out/spans.parquet" >"$out/import.txt"
	grep -E "^(spans in|calls out):" "$out/import.txt" || true
	echo "== $run: analyzing =="
	# the script owns $OUT: replace an analysis an older chaosgen wrote there
	"$BIN" analyze "$out/spans.parquet" -o "$out/analysis" --force >"$out/analyze.txt"
	echo "== $run: evaluating against $(basename "${faults[0]}") =="
	"$BIN" evaluate "$out/analysis" --truth "${faults[0]}" --truth-format nezha --after "$AFTER" --json >"$out/evaluate.json" 2>/dev/null
	"$BIN" evaluate "$out/analysis" --truth "${faults[0]}" --truth-format nezha --after "$AFTER" | tee "$out/evaluate.txt"
	echo
	{
		echo "$run"
		# the table of AC@k per ranking
		awk '/^ranking /{p=1} p&&NF==0{exit} p' "$out/evaluate.txt"
		echo
	} >>"$summary"
done

echo "== AC@1/AC@3/AC@5 per run (also in $summary; per-fault results in $OUT/<run>/evaluate.{txt,json}) =="
cat "$summary"
