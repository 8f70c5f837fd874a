#!/usr/bin/env bash
# Summarize a `make loop` run directory (bench/loop/run.sh): per night what
# was live, what the clients saw and every guard trip; per profile its
# verdicts night by night; and replay's prediction of the live mesh: each
# night's bundle replayed (with the mesh's policies) on night 1's recorded
# fault-free traffic, against what the mesh measured with that bundle live
# the next night. Writes DIR/summary.txt and DIR/summary.json too.
set -euo pipefail
DIR=${1:?usage: summary.sh RUN_DIR}
CG=$DIR/bin/chaosgen
nights=$(find "$DIR/nights" -mindepth 1 -maxdepth 1 -type d | wc -l)
kv() { grep -o "$2=[^ ]*" "$1" | head -1 | cut -d= -f2; }

{
echo "== nights: what was live, what the clients saw (root requests), guard trips"
printf "%-6s %-9s %-9s %-8s %-8s %-9s %-10s %s\n" night profiles requests success p99Ms injected liveTrips replayTrips
for n in $(seq "$nights"); do
	N=$DIR/nights/$n
	trips=$(jq -s '[.[] | select(.guards.tripped)] | length' "$N"/status-*.json)
	printf "%-6s %-9s %-9s %-8s %-8s %-9s %-10s %s\n" "$n" "$(jq '.profiles | length' "$N/live.bundle.json")" \
		"$(kv "$N/link.txt" requests)" "$(kv "$N/link.txt" success)" "$(kv "$N/link.txt" p99Ms)" \
		"$(kv "$N/link.txt" injected)" "$trips" \
		"$(jq '"fault-free \(.guards.baselineTrips | length), faults \(.guards.trips | length)"' -r "$N/replay/report.json")"
	jq -r 'select(.guards.tripped) | "       trip: \(.guards.tripReason)"' "$N"/status-*.json
done

echo
echo "== verdicts (generate --previous after each night, on the bundle live that night)"
for n in $(seq 2 "$nights"); do
	jq -r --arg n "$n" '.feedback[]? | [$n, .id, .verdict, (.injected | tostring), "\(.oldRate) -> \(.newRate)"] | @tsv' "$DIR/nights/$n/generate.json"
done | sort -k2,2 -k1,1n | awk -F'\t' '{printf "  night %s  %-30s %-20s injected %-5s rate %s\n", $1, $2, $3, $4, $5}'

echo
echo "== replay's prediction against the live mesh (root requests)"
printf "%-8s %-12s %-12s %-8s %-10s %-10s %s\n" bundle pred.success live.success diff.pp pred.p99Ms live.p99Ms diff
for n in $(seq 1 $((nights - 1))); do
	B=$DIR/nights/$n/bundle.json
	[ "$(jq '.profiles | length' "$B")" -gt 0 ] || continue
	P=$DIR/predict/$n
	mkdir -p "$DIR/predict"
	"$CG" replay --bundle "$B" --pub "$DIR/key.pub" --mesh "$DIR/mesh.replay.yaml" --seed 1 \
		"$DIR/nights/1/spans.parquet" -o "$P" --force > /dev/null 2>&1
	jq -n -r --arg n "$n" --slurpfile p "$P/report.json" --slurpfile m "$DIR/nights/$((n + 1))/replay/report.json" '
		($p[0].faults.root) as $a | ($m[0].baseline.recordedRoot) as $b |
		[$n, ($a.successRate | tostring), ($b.successRate | tostring),
		 (((($a.successRate - $b.successRate) * 10000 | round) / 100) | tostring),
		 ($a.p99Ms | round | tostring), ($b.p99Ms | round | tostring),
		 ((((($a.p99Ms - $b.p99Ms) / $b.p99Ms) * 1000 | round) / 10 | tostring) + "%")] | @tsv' |
		awk -F'\t' '{printf "%-8s %-12.4f %-12.4f %-8s %-10s %-10s %s\n", "night" $1, $2, $3, $4, $5, $6, $7}'
done
} | tee "$DIR/summary.txt"

# fault-free traffic must trip nothing: night 1 live (an empty bundle) and
# every night's bundle replayed with injection off on that night's traffic
bad=0
if [ "$(jq -s '[.[] | select(.guards.tripped)] | length' "$DIR"/nights/1/status-*.json)" -ne 0 ]; then
	echo "FAIL: a sidecar's guard tripped on night 1 (fault-free)"; bad=1
fi
for n in $(seq "$nights"); do
	if [ "$(jq '.guards.baselineTrips | length' "$DIR/nights/$n/replay/report.json")" -ne 0 ]; then
		echo "FAIL: night $n's bundle trips on that night's traffic with injection off"; bad=1
	fi
done
exit "$bad"
