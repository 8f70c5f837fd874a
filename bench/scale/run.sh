#!/usr/bin/env bash
# bench/scale: the commands of the Kubernetes Indexed Job
# (deploy/kubernetes/analyze/) run locally with 1, 2 and 4 shards over one
# span file, each process with GOMAXPROCS=1 (one core standing in for one
# machine), then the merge Job's command; and, for comparison, the CronJob's
# single-node analyze. For every process it reports the wall time, the CPU
# time (user + system) and the peak RSS (GNU time -v). The shards' CPU is
# compared with one shard over everything run alone and run beside a copy
# of itself (the shards share the machine PARALLEL at a time, which two
# processes on one VM pay for in CPU time). See docs/scale.md.
#
# Environment:
#   DATA        working directory (default /tmp/chaosgen-scale): the span
#               file, the partials and the analyses go there
#   SYNTH_DAYS, SYNTH_RPS, SYNTH_SERVICES  synth's flags for the span file
#               (default 1, 38 and 30: about 40M spans in one file of 1M-row
#               row groups)
#   SHARDS      shard counts to run (default "1 2 4")
#   PARALLEL    shard processes run at once (default: the number of cores,
#               so that no two processes share a core: more shards than
#               cores run in waves, each process on a core of its own, as
#               pods on their own machines would)
#   ANALYZE_FLAGS  extra flags of analyze and merge (default none)
#   REPS        times the whole set of runs is repeated (default 3); every
#               figure reported is the median over the repetitions (on this
#               VM one process's time varies by 10-20% from run to run)
#   MERGE_RUNS  times the merge Job's command runs in each repetition, back
#               to back (default 3); its figure in a repetition is the
#               median of those runs, and the fastest is printed beside it.
#               A process of 0.3 s feels a slow moment of the VM in full
#               (on this VM such moments last seconds and make it up to
#               1.5 times slower), which the single node's 7 s average
#               out; every run's time is printed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DATA=${DATA:-/tmp/chaosgen-scale}
SYNTH_DAYS=${SYNTH_DAYS:-1}
SYNTH_RPS=${SYNTH_RPS:-38}
SYNTH_SERVICES=${SYNTH_SERVICES:-30}
SHARDS=${SHARDS:-1 2 4}
ANALYZE_FLAGS=${ANALYZE_FLAGS:-}
PARALLEL=${PARALLEL:-$(nproc)}
REPS=${REPS:-3}
MERGE_RUNS=${MERGE_RUNS:-3}
[[ $REPS =~ ^[1-9][0-9]*$ ]] || { echo "bench-scale: REPS must be a positive integer, not '$REPS'" >&2; exit 1; }
[[ $MERGE_RUNS =~ ^[1-9][0-9]*$ ]] || { echo "bench-scale: MERGE_RUNS must be a positive integer, not '$MERGE_RUNS'" >&2; exit 1; }
BIN=$DATA/chaosgen
SPANS=$DATA/spans/day.parquet
REPORT=$DATA/report.txt

die() { echo "bench-scale: $*" >&2; exit 1; }

if [[ ! -x /usr/bin/time ]]; then
	echo "== installing GNU time (/usr/bin/time) =="
	apt-get install -y time >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y time >/dev/null; }
fi
mkdir -p "$DATA"
go build -tags disable_grpc_modules -o "$BIN" ./cmd/chaosgen

if [[ ! -f $SPANS ]]; then
	echo "== generating $SPANS (synth --days $SYNTH_DAYS --rps $SYNTH_RPS --services $SYNTH_SERVICES) =="
	"$BIN" synth -o "$SPANS" --days "$SYNTH_DAYS" --rps "$SYNTH_RPS" --services "$SYNTH_SERVICES" --seed 1 2>/dev/null
fi

# timed NAME CMD...: runs CMD with GOMAXPROCS=1 under GNU time, keeping its
# report in $DATA/time/NAME.$rep (rep: the current repetition).
rm -rf "$DATA/time"
mkdir -p "$DATA/time"
timed() {
	local name=$1.$rep
	shift
	GOMAXPROCS=1 /usr/bin/time -v -o "$DATA/time/$name" "$@" >"$DATA/time/$name.out" 2>"$DATA/time/$name.err" ||
		die "$name failed: $(tail -n 3 "$DATA/time/$name.err")"
}
# merge_walls N REP: the wall seconds of each run of the merge of N
# partials in repetition REP, one a line
merge_walls() {
	local k
	for ((k = 1; k <= MERGE_RUNS; k++)); do one "$DATA/time/merge-$1-run$k.$2" | cut -d' ' -f1; done
}
# median: the median of the numbers on stdin, one a line
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# one FILE: wall seconds, CPU seconds and peak RSS (MiB) of one timed run
one() {
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, p, ":"); w = 0; for (i = 1; i <= n; i++) w = w * 60 + p[i] }
		/User time/ { u = $2 } /System time/ { s = $2 } /Maximum resident/ { r = $2 }
		END { printf "%.2f %.2f %.0f\n", w, u + s, r / 1024 }' "$1"
}
# field NAME: the medians over the repetitions of the wall seconds, CPU
# seconds and peak RSS (MiB) of a timed run (NAME may be a glob: the medians
# over all the runs it names)
field() {
	local f w=() c=() r=()
	# shellcheck disable=SC2086 # NAME's glob characters must expand
	for f in "$DATA/time/"$1.[0-9]*; do
		[[ $f == *.out || $f == *.err ]] && continue
		read -r wall cpu rss < <(one "$f")
		w+=("$wall") c+=("$cpu") r+=("$rss")
	done
	printf '%8.2f %8.2f %8.0f' "$(printf '%s\n' "${w[@]}" | median)" "$(printf '%s\n' "${c[@]}" | median)" "$(printf '%s\n' "${r[@]}" | median)"
}
now() { date +%s.%N; }

{
	echo "bench/scale: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), transparent huge pages: $(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null | grep . || echo -)"
	echo "span file: $SPANS, $(du -m "$SPANS" | cut -f1) MiB"
	echo "every process GOMAXPROCS=1 (--workers 1); wall and CPU in seconds, peak RSS in MiB; medians of $REPS repetitions (the merge: of its $MERGE_RUNS runs in each)"
	printf '%-22s %8s %8s %8s\n' process wall cpu rss_mib
} | tee "$REPORT"

# --- the runs, REPS times ----------------------------------------------------
for ((rep = 1; rep <= REPS; rep++)); do
	echo "== repetition $rep of $REPS ==" >&2
	# the CronJob's single-node run
	rm -rf "$DATA/single" "$DATA/single-nomodels"
	timed single "$BIN" analyze "$SPANS" -o "$DATA/single" --workers 1 $ANALYZE_FLAGS
	timed single-nomodels "$BIN" analyze "$SPANS" -o "$DATA/single-nomodels" --workers 1 --no-models
	# the peer of the shards' CPU when they share the machine: one shard
	# over everything beside a second copy of itself, as the shards run
	# PARALLEL at a time (two processes on this VM contend for its caches
	# and memory bandwidth, which pods on their own machines do not)
	if ((PARALLEL > 1)); then
		for k in 0 1; do
			timed "beside-$k" "$BIN" analyze --partial --shard 0/1 --workers 1 "$SPANS" -o "$DATA/beside-$k.part" &
		done
		wait
		rm -f "$DATA"/beside-*.part
	fi
	for n in $SHARDS; do
		parts=$DATA/parts-$n
		rm -rf "$parts" "$DATA/merged-$n" "$DATA/merged-$n-nomodels"
		mkdir -p "$parts"
		# the Indexed Job's pods, up to PARALLEL at once
		t0=$(now)
		pids=()
		for ((i = 0; i < n; i++)); do
			if ((${#pids[@]} >= PARALLEL)); then
				wait "${pids[0]}"
				pids=("${pids[@]:1}")
			fi
			timed "shard-$n-$i" "$BIN" analyze --partial --shard "$i/$n" --workers 1 "$SPANS" -o "$parts/$i.part" &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait "$p"; done
		t1=$(now)
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }' >"$DATA/time/elapsed-$n.$rep"
		# the merge Job, MERGE_RUNS times, each run's output checked
		for ((k = 1; k <= MERGE_RUNS; k++)); do
			rm -rf "$DATA/merged-$n"
			timed "merge-$n-run$k" "$BIN" merge "$parts"/*.part -o "$DATA/merged-$n" --workers 1 $ANALYZE_FLAGS
			diff -r "$DATA/single" "$DATA/merged-$n" >/dev/null ||
				die "the merge of $n shards (run $k) differs from the single-node analysis"
		done
		# the merge without the models: what merging itself costs
		timed "merge-$n-nomodels" "$BIN" merge "$parts"/*.part -o "$DATA/merged-$n-nomodels" --workers 1 --no-models
	done
done

# --- the report: medians over the repetitions -----------------------------------
printf '%-22s %s  (%s spans)\n' "analyze (one node)" "$(field single)" \
	"$(awk -F': ' '/^  "rows"/ { gsub(",", "", $2); print $2 }' "$DATA/single/summary.json")" | tee -a "$REPORT"
printf '%-22s %s  (no trace pass when the spans hold no injected call: docs/analysis.md, "Reading")\n' "analyze --no-models" "$(field single-nomodels)" | tee -a "$REPORT"
single_wall=$(field single | awk '{ print $1 }')
single_cpu=$(field single | awk '{ print $2 }')
single_nm_cpu=$(field single-nomodels | awk '{ print $2 }')
beside_cpu=0
if ((PARALLEL > 1)); then
	# the medians over both copies of every repetition
	printf '%-22s %s\n' "1 shard beside another" "$(field 'beside-[01]')" | tee -a "$REPORT"
	beside_cpu=$(field 'beside-[01]' | awk '{ print $2 }')
fi

for n in $SHARDS; do
	parts=$DATA/parts-$n
	for ((i = 0; i < n; i++)); do
		printf '%-22s %s  (%s)\n' "shard $i/$n" "$(field "shard-$n-$i")" "$(sed 's/^wrote [^:]*: //' "$DATA/time/shard-$n-$i.$REPS.out")"
	done | tee -a "$REPORT"
	printf '%-22s %s  (%s bytes of partials)\n' "merge of $n" "$(field "merge-$n-run*")" "$(cat "$parts"/*.part | wc -c)" | tee -a "$REPORT"
	printf '%-22s %s\n' "merge --no-models" "$(field "merge-$n-nomodels")" | tee -a "$REPORT"
	# the Job's wall on n machines: its slowest pod (with more shards than
	# cores the runs above took longer: they ran in waves), per repetition
	# (rw), then the median; the CPU of all pods likewise (rc)
	rw=() rc=()
	for ((r = 1; r <= REPS; r++)); do
		read -r rw[r] rc[r] < <(for ((i = 0; i < n; i++)); do one "$DATA/time/shard-$n-$i.$r"; done |
			awk 'NR == 1 || $1 > w { w = $1 } { c += $2 } END { print w, c }')
	done
	shards_wall=$(printf '%s\n' "${rw[@]}" | median)
	shards_cpu=$(printf '%s\n' "${rc[@]}" | median)
	elapsed=$(cat "$DATA/time/elapsed-$n".* | median)
	merge_wall=$(field "merge-$n-run*" | awk '{ print $1 }')
	merge_cpu=$(field "merge-$n-run*" | awk '{ print $2 }')
	merge_nm_cpu=$(field "merge-$n-nomodels" | awk '{ print $2 }')
	[[ $n == 1 ]] && one_shard_wall=$shards_wall one_shard_cpu=$shards_cpu
	awk -v n="$n" -v sw="$shards_wall" -v el="$elapsed" -v p="$PARALLEL" -v s1="${one_shard_wall:-0}" -v sc="$shards_cpu" -v mw="$merge_wall" -v mc="$merge_cpu" -v mn="$merge_nm_cpu" \
		-v w1="$single_wall" -v c1="$single_cpu" -v cn="$single_nm_cpu" -v o1="${one_shard_cpu:-0}" -v ob="$beside_cpu" 'BEGIN {
		printf "  %d shard(s): slowest shard %.2f s wall (%.2fx 1 shard, %.2fx one node; %.2f s here, %d at a time)\n", n, sw, (s1 > 0 ? sw / s1 : 0), sw / w1, el, p
		printf "    CPU of all shards %.2f s = %.2fx analyze --no-models (%.2f s; the shards run the trace pass, which it may skip); shards + merge %.2f s = %.2fx one node (%.2f s)\n", sc, sc / cn, cn, sc + mc, (sc + mc) / c1, c1
		if (n > 1 && (o1 > 0 || ob > 0)) {
			printf "    against one shard over everything:"
			if (o1 > 0) printf " %.2fx it alone (%.2f s)", sc / o1, o1
			if (ob > 0) printf "%s %.2fx it beside another (%.2f s), as the shards ran", (o1 > 0 ? "," : ""), sc / ob, ob
			printf "\n"
		}
		printf "    merge wall %.2f s = %.1f%% of one node; without the models (which one node runs too) CPU %.2f s = %.1f%% of one node\n", mw, 100 * mw / w1, mn, 100 * mn / c1 }' | tee -a "$REPORT"
	# the same ratios taken within each repetition, then their median: the
	# runs of one repetition are minutes apart at most, while the VM's
	# speed drifts by a fifth over a quarter of an hour, which a ratio of
	# medians taken from different repetitions carries into the result
	if ((REPS > 1)); then
		pw=() pc=() pm=() pf=() mr=()
		for ((r = 1; r <= REPS; r++)); do
			mr+=("$(merge_walls "$n" "$r" | paste -sd' ')")
			if [[ -f $DATA/time/shard-1-0.$r ]]; then
				read -r w1r c1r _ < <(one "$DATA/time/shard-1-0.$r")
				pw+=("$(awk -v a="${rw[r]}" -v b="$w1r" 'BEGIN { print a / b }')")
				pc+=("$(awk -v a="${rc[r]}" -v b="$c1r" 'BEGIN { print a / b }')")
			fi
			w1r=$(one "$DATA/time/single.$r" | cut -d' ' -f1)
			pm+=("$(awk -v a="$(merge_walls "$n" "$r" | median)" -v b="$w1r" 'BEGIN { print 100 * a / b }')")
			pf+=("$(awk -v a="$(merge_walls "$n" "$r" | sort -g | head -n 1)" -v b="$w1r" 'BEGIN { print 100 * a / b }')")
		done
		{
			printf '    within each repetition, median of %d:' "$REPS"
			((${#pw[@]} > 0)) && printf ' slowest shard %.2fx 1 shard (wall), all shards %.2fx its CPU,' \
				"$(printf '%s\n' "${pw[@]}" | median)" "$(printf '%s\n' "${pc[@]}" | median)"
			printf ' merge %.1f%% of one node (wall; its fastest run %.1f%%)\n' "$(printf '%s\n' "${pm[@]}" | median)" "$(printf '%s\n' "${pf[@]}" | median)"
			# every run: a slow moment of the VM shows as a few slow runs in a row
			printf '    merge wall of each run, by repetition: %s s\n' "$(printf '%s\n' "${mr[@]}" | paste -sd'/' | sed 's|/| / |g')"
		} | tee -a "$REPORT"
	fi
	echo "  the merge of $n shard(s) is byte-identical to the single-node analysis (every run)" | tee -a "$REPORT"
done
echo "(medians of $REPS repetitions)" | tee -a "$REPORT"
echo "report: $REPORT"
