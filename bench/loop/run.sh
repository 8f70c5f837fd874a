#!/usr/bin/env bash
# The feedback loop on a local mesh of real processes (`make loop`).
#
# Every service of bench/loop/mesh.yaml runs as a `meshsvc serve` process
# behind its own `chaosgen inject` sidecar, all on 127.0.0.1 with free ports;
# the services call each other through the sidecars, propagate traceparent
# and name themselves in x-chaosgen-caller, and the sidecars record every
# call. Then, night after night:
#
#   load (a compressed day) -> the sidecars' records -> meshsvc link ->
#   chaosgen analyze -> chaosgen generate --previous (the live bundle) ->
#   chaosgen replay (the mesh's policies) -> POST /reload on every sidecar
#
# Night 1 runs with an empty bundle (fault-free traffic); its bundle is live
# on night 2, and so on. At the end: bench/loop/summary.sh on the run.
#
# LOOP_NIGHTS (5), LOOP_DAY (length of a compressed day, 80s), LOOP_RPS
# (peak root requests/s, 75), LOOP_DIR (the run's directory; default a new
# temporary one, kept), LOOP_SEED (1), LOOP_MIN_SCORE (0.3).
set -euo pipefail

NIGHTS=${LOOP_NIGHTS:-5}
DAY=${LOOP_DAY:-80s}
RPS=${LOOP_RPS:-75}
SEED=${LOOP_SEED:-1}
# the mesh's findings are persistent error rates on edges half the requests
# or fewer use: their scores (which weigh criticality) are 0.35-0.46, below
# generate's default --min-score 0.5
MIN_SCORE=${LOOP_MIN_SCORE:-0.3}
DIR=${LOOP_DIR:-$(mktemp -d /tmp/chaosgen-loop.XXXXXX)}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CONFIG=$ROOT/bench/loop/mesh.yaml

mkdir -p "$DIR/bin" "$DIR/live" "$DIR/rec" "$DIR/logs"
DIR=$(cd "$DIR" && pwd)
echo "== run directory: $DIR"
(cd "$ROOT" && go build -tags disable_grpc_modules -o "$DIR/bin/chaosgen" ./cmd/chaosgen && go build -o "$DIR/bin/meshsvc" ./cmd/meshsvc)
CG=$DIR/bin/chaosgen
MS=$DIR/bin/meshsvc

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -f "$DIR/key" "$DIR/key.pub"
ssh-keygen -q -t ed25519 -N '' -C loop@localmesh -f "$DIR/key"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$DIR/token"
"$MS" replay-mesh --config "$CONFIG" > "$DIR/mesh.replay.yaml"
"$MS" empty-bundle --key "$DIR/key" -o "$DIR/live/bundle.json"

ingress=$("$MS" ingress --config "$CONFIG")
mapfile -t lines < <("$MS" services --config "$CONFIG")
mapfile -t free < <("$MS" ports $((3 * ${#lines[@]})))
declare -A svcport proxyport adminport calls
i=0
for line in "${lines[@]}"; do
	name=${line%% *}
	calls[$name]=${line#* }
	svcport[$name]=${free[i]}; proxyport[$name]=${free[i+1]}; adminport[$name]=${free[i+2]}
	i=$((i + 3))
done

# the sidecars first (a service's downstreams are their sidecars), then the services
for name in "${!svcport[@]}"; do
	mkdir -p "$DIR/rec/$name"
	"$CG" inject --bundle "$DIR/live/bundle.json" --pub "$DIR/key.pub" \
		--upstream "http://127.0.0.1:${svcport[$name]}" --service "$name" \
		--listen "127.0.0.1:${proxyport[$name]}" --admin "127.0.0.1:${adminport[$name]}" \
		--admin-token-file "$DIR/token" --records "$DIR/rec/$name" --records-max-age 2s \
		2> "$DIR/logs/inject-$name.log" &
	pids+=($!)
	args=()
	IFS=, read -ra cs <<< "${calls[$name]}"
	for c in "${cs[@]}"; do
		[ -n "$c" ] && args+=(--downstream "$c=http://127.0.0.1:${proxyport[$c]}")
	done
	"$MS" serve --config "$CONFIG" --service "$name" --listen "127.0.0.1:${svcport[$name]}" \
		--seed "$SEED" "${args[@]}" 2> "$DIR/logs/svc-$name.log" &
	pids+=($!)
done
for name in "${!svcport[@]}"; do
	for _ in $(seq 50); do
		curl -sf "http://127.0.0.1:${adminport[$name]}/status" > /dev/null && break
		sleep 0.1
	done
	curl -sf "http://127.0.0.1:${adminport[$name]}/status" > /dev/null || { echo "sidecar of $name did not start:"; cat "$DIR/logs/inject-$name.log"; exit 1; }
done
echo "== mesh up: ${!svcport[*]}; ingress $ingress at 127.0.0.1:${proxyport[$ingress]}"

for night in $(seq "$NIGHTS"); do
	N=$DIR/nights/$night
	mkdir -p "$N/records"
	echo "== night $night: one day of load ($DAY, peak $RPS root req/s) with $(jq -r '.metadata.name + " (" + (.profiles | length | tostring) + " profiles)"' "$DIR/live/bundle.json")"
	cp "$DIR/live/bundle.json" "$N/live.bundle.json"
	"$MS" load --config "$CONFIG" --target "http://127.0.0.1:${proxyport[$ingress]}/" --rps "$RPS" --day "$DAY" --seed $((SEED * 1000 + night)) | tee "$N/load.txt"
	sleep 4 # the sidecars complete a record file 2 s after its first record
	for name in "${!svcport[@]}"; do
		for f in "$DIR/rec/$name"/*.parquet; do
			[ -e "$f" ] && mv "$f" "$N/records/$name-$(basename "$f")"
		done
	done
	for name in "${!svcport[@]}"; do
		curl -sf "http://127.0.0.1:${adminport[$name]}/status" > "$N/status-$name.json"
	done
	"$MS" link -o "$N/spans.parquet" "$N"/records/*.parquet | tee "$N/link.txt"
	"$CG" analyze "$N/spans.parquet" -o "$N/analysis" --window 2s --horizon 10m > "$N/analyze.txt"
	prev=()
	[ "$night" -gt 1 ] && prev=(--previous "$N/live.bundle.json")
	"$CG" generate "$N/analysis" -o "$N/bundle.json" --key "$DIR/key" --min-score "$MIN_SCORE" "${prev[@]}" --json > "$N/generate.json" 2> "$N/generate.err"
	"$CG" replay --bundle "$N/bundle.json" --pub "$DIR/key.pub" --mesh "$DIR/mesh.replay.yaml" \
		--seed "$SEED" "$N/spans.parquet" -o "$N/replay" > "$N/replay.txt" 2>&1
	# deploy: bundle and signature renamed into place, then every sidecar reloads
	cp "$N/bundle.json.sig" "$DIR/live/.bundle.json.sig.tmp"
	cp "$N/bundle.json" "$DIR/live/.bundle.json.tmp"
	mv "$DIR/live/.bundle.json.tmp" "$DIR/live/bundle.json"
	mv "$DIR/live/.bundle.json.sig.tmp" "$DIR/live/bundle.json.sig"
	for name in "${!svcport[@]}"; do
		for op in reload resume; do
			# resume: a breaker that tripped tonight is in status-*.json; the
			# new bundle starts with its breakers closed
			curl -sf -XPOST -H "Authorization: Bearer $(cat "$DIR/token")" \
				"http://127.0.0.1:${adminport[$name]}/$op" > /dev/null ||
				{ echo "sidecar of $name: POST /$op failed (night $night):"; tail -3 "$DIR/logs/inject-$name.log"; exit 1; }
		done
	done
	jq -r '.feedback[]? | "  \(.id): \(.verdict) (\(.injected) injected), rate \(.oldRate) -> \(.newRate)"' "$N/generate.json"
	jq -r '.profiles[] | select(.rate > 0) | .id' "$N/generate.json" | sed 's/^/  live next night: /' | head -20
done

bash "$ROOT/bench/loop/summary.sh" "$DIR"
