#!/usr/bin/env bash
# Benchmarks `chaosgen inject` with no fault firing against a direct
# connection to the upstream, against nginx as a plain reverse proxy and
# against a plain httputil.ReverseProxy (bench/inject/reverseproxy), all on
# 127.0.0.1, with wrk. The upstream is nginx serving a static 1 KiB body.
#
#   bench/inject/run.sh                 # full run (~7 minutes)
#   DURATION=5s ROUNDS=1 bench/inject/run.sh # quicker, noisier
#   RECORDS=1 bench/inject/run.sh       # the proxy also writes span records
#   BUSY_POLL=100us bench/inject/run.sh # --busy-poll for the chaosgen-bp rows (default 50us)
#
# Installs wrk and nginx from apt when they are missing. Prints a table with
# the added p50 latency at one connection, the proxy's CPU time per request
# at one connection, and requests/s at 32 connections, with ratios, and the
# load average (numbers taken while other work runs on the machine are
# noisy). The chaosgen-bp rows run the proxy with --busy-poll.
#
# Latency at one connection moves by tens of microseconds between minutes on
# a virtual machine, so the one-connection points are measured in ROUNDS
# rounds (default 3), each round running every setup of its group one after
# the other: a setup's added p50 is the median over the rounds of its p50
# minus the direct connection's p50 in the same round, printed with the
# smallest and largest of those differences. Both chaosgen variants of a
# group (with and without --busy-poll) run side by side on their own ports.
set -euo pipefail

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-32}
THREADS=${THREADS:-2}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/chaosgen-bench-inject.XXXXXX)
chmod 755 "$WORK" # nginx workers may run as another user
UP_PORT=18080 NGX_PORT=18081 CG_PORT=18082 ADMIN_PORT=18083 RP_PORT=18084 BP_PORT=18085 BP_ADMIN_PORT=18086

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
	SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for c in "$WORK"/nginx-*.conf; do [ -f "$c" ] && "$NGINX" -c "$c" -p "$WORK" -s stop 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

echo "== building chaosgen"
(cd "$ROOT" && go build -tags disable_grpc_modules -o "$WORK/chaosgen" ./cmd/chaosgen && go build -o "$WORK/reverseproxy" ./bench/inject/reverseproxy)

# nginx: the upstream (static 1 KiB) and the reference reverse proxy
head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/body"
nginx_conf() { # name workers server-block
	cat > "$WORK/nginx-$1.conf" <<NGX
worker_processes $2;
pid $WORK/nginx-$1.pid;
error_log $WORK/nginx-$1.err warn;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	keepalive_timeout 300s;
	upstream up { server 127.0.0.1:$UP_PORT; keepalive 128; }
	$3
}
NGX
}
nginx_conf upstream 1 "server { listen 127.0.0.1:$UP_PORT; location / { root $WORK; try_files /body =404; default_type application/octet-stream; } }"
start_nginx() { "$NGINX" -c "$WORK/nginx-$1.conf" -p "$WORK" -e "$WORK/nginx-$1.err"; }
stop_nginx() { "$NGINX" -c "$WORK/nginx-$1.conf" -p "$WORK" -e "$WORK/nginx-$1.err" -s stop; sleep 0.3; }
proxy_block="server { listen 127.0.0.1:$NGX_PORT; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffering on; } }"
nginx_conf proxy-auto auto "$proxy_block"
nginx_conf proxy-1 1 "$proxy_block"
start_nginx upstream

# a signed bundle whose profiles match every request and never fire
ssh-keygen -q -t ed25519 -N '' -C bench@chaosgen -f "$WORK/key"
cat > "$WORK/bundle.json" <<'JSON'
{
  "apiVersion": "chaosgen/v1",
  "guards": {
    "abortIf": {
      "rootErrorRate": 0.5,
      "rootP99Ms": 5000
    },
    "maxActiveFaults": 100,
    "maxGlobalRate": 0.05
  },
  "kind": "ProfileBundle",
  "metadata": {
    "generator": "bench/inject",
    "name": "bench",
    "seed": 1,
    "source": {
      "files": [],
      "timeRange": {
        "end": "2026-01-02T00:00:00Z",
        "start": "2026-01-01T00:00:00Z"
      }
    }
  },
  "profiles": [
    {
      "fault": {
        "httpStatus": 503,
        "type": "abort"
      },
      "id": "bench-abort",
      "maxRate": 0,
      "rate": 0,
      "rationale": {
        "summary": "matches every request, never fires"
      },
      "severity": "minor",
      "target": {
        "callee": "bench",
        "caller": "",
        "operation": "GET /**"
      }
    },
    {
      "fault": {
        "delayMs": 100,
        "type": "latency"
      },
      "id": "bench-latency",
      "maxRate": 0,
      "rate": 0,
      "rationale": {
        "summary": "matches every request, never fires"
      },
      "severity": "minor",
      "target": {
        "callee": "bench",
        "caller": "",
        "operation": ""
      }
    }
  ]
}
JSON
ssh-keygen -q -Y sign -f "$WORK/key" -n chaosgen-bundle "$WORK/bundle.json"

start_chaosgen() { # name port admin-port GOMAXPROCS ("" for the default) [extra flags...]; sets PID_<name>
	local name=$1 port=$2 admin=$3 gmp=$4; shift 4
	local args=(inject --bundle "$WORK/bundle.json" --pub "$WORK/key.pub" --service bench
		--listen 127.0.0.1:$port --upstream http://127.0.0.1:$UP_PORT --admin 127.0.0.1:$admin "$@")
	[ -n "${RECORDS:-}" ] && args+=(--records "$WORK/records-$name")
	if [ -n "$gmp" ]; then GOMAXPROCS=$gmp "$WORK/chaosgen" "${args[@]}" 2>"$WORK/$name.log" &
	else "$WORK/chaosgen" "${args[@]}" 2>"$WORK/$name.log" & fi
	local pid=$!
	pids+=("$pid")
	printf -v "PID_$name" %s "$pid"
	for _ in $(seq 50); do curl -fsS -o /dev/null "http://127.0.0.1:$admin/status" 2>/dev/null && return; sleep 0.1; done
	cat "$WORK/$name.log"; exit 1
}
stop_pid() { kill "$1"; wait "$1" 2>/dev/null || true; }

# to_us "45.12us" | "1.02ms" | "1.00s" -> microseconds
to_us() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) print n; else if (v ~ /ms$/) print n * 1000; else if (v ~ /s$/) print n * 1e6; else print n }'; }

# cpu_ticks PID... -> user+system clock ticks of the processes (all threads)
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
# nginx_workers NAME -> the worker pids of nginx instance NAME
nginx_workers() { pgrep -P "$(cat "$WORK/nginx-$1.pid")" | tr '\n' ' '; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

declare -A RPS P50 P99 CPU ADDS ADDED ADDMIN ADDMAX
measure() { # key url conns threads [pids whose CPU time per request to report]
	local key=$1 url=$2 conns=$3 threads=$4; shift 4
	curl -fsS -o /dev/null "$url" || { echo "$url does not answer"; exit 1; }
	wrk -t"$threads" -c"$conns" -d2s "$url" >/dev/null # warm-up
	local t0=0; [ $# -gt 0 ] && t0=$(cpu_ticks "$@")
	local out; out=$(wrk -t"$threads" -c"$conns" -d"$DURATION" --latency "$url")
	if grep -q "Non-2xx\|Socket errors" <<<"$out"; then echo "$out"; echo "errors during $key"; exit 1; fi
	RPS[$key]=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
	P50[$key]=$(to_us "$(awk '$1 == "50%" { print $2 }' <<<"$out")")
	P99[$key]=$(to_us "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
	local cpu=""
	if [ $# -gt 0 ]; then
		local reqs; reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
		CPU[$key]=$(awk -v t="$(( $(cpu_ticks "$@") - t0 ))" -v u="$TICK_US" -v n="$reqs" 'BEGIN { printf "%.1f", t * u / n }')
		cpu=$(printf '  proxy CPU %5.1f µs/req' "${CPU[$key]}")
	fi
	printf '  %-22s c=%-3s %10.0f req/s  p50 %8.1f µs  p99 %8.1f µs%s\n' "$key" "$conns" "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}" "$cpu"
}

declare -A P50S CPUS
# median NUMBER... -> their median
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# stats KEY -> sets ADDED (median), ADDMIN and ADDMAX of ADDS[KEY], the
# per-round added p50s
stats() {
	# shellcheck disable=SC2086 # a list of numbers
	ADDED[$1]=$(median ${ADDS[$1]})
	local sorted; sorted=$(printf '%s\n' ${ADDS[$1]} | sort -g)
	ADDMIN[$1]=$(head -1 <<<"$sorted")
	ADDMAX[$1]=$(tail -1 <<<"$sorted")
}

# rounds "key url pids..." ... : ROUNDS rounds of one-connection points, the
# first argument being the direct connection; each round's p50s are taken
# relative to that round's direct p50
rounds() {
	local r spec key url
	for r in $(seq "$ROUNDS"); do
		echo "  -- round $r of $ROUNDS at one connection"
		local direct=""
		for spec in "$@"; do
			read -r key url pids_ <<<"$spec"
			# shellcheck disable=SC2086 # a list of pids
			measure "$key/c1" "$url" 1 1 $pids_
			P50S[$key]+=" ${P50[$key/c1]}"
			if [ -z "$direct" ]; then direct=${P50[$key/c1]}; continue; fi
			ADDS[$key]+=" $(awk -v a="${P50[$key/c1]}" -v b="$direct" 'BEGIN { print a - b }')"
			CPUS[$key]+=" ${CPU[$key/c1]:-}"
		done
	done
	local first=1
	for spec in "$@"; do
		read -r key _ <<<"$spec"
		# shellcheck disable=SC2086 # lists of numbers
		P50[$key/c1]=$(median ${P50S[$key]})
		if [ -n "$first" ]; then first=""; continue; fi
		stats "$key"
		# shellcheck disable=SC2086
		[ -n "${CPU[$key/c1]:-}" ] && CPU[$key/c1]=$(median ${CPUS[$key]})
	done
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
BUSY_POLL=${BUSY_POLL:-50us}
echo "== machine: $(nproc) CPUs, load average $LOAD_BEFORE; wrk $DURATION per point, $ROUNDS rounds at one connection"
echo "== default: nginx worker_processes auto, chaosgen GOMAXPROCS=$(nproc)"
start_nginx proxy-auto
start_chaosgen cg $CG_PORT $ADMIN_PORT ""
start_chaosgen cgbp $BP_PORT $BP_ADMIN_PORT "" --busy-poll "$BUSY_POLL"
"$WORK/reverseproxy" -listen 127.0.0.1:$RP_PORT -upstream http://127.0.0.1:$UP_PORT 2>/dev/null &
RP_PID=$!; pids+=("$RP_PID"); sleep 0.3
rounds "direct http://127.0.0.1:$UP_PORT/x" \
	"nginx http://127.0.0.1:$NGX_PORT/x $(nginx_workers proxy-auto)" \
	"chaosgen http://127.0.0.1:$CG_PORT/x $PID_cg" \
	"chaosgen-bp http://127.0.0.1:$BP_PORT/x $PID_cgbp" \
	"reverseproxy http://127.0.0.1:$RP_PORT/x $RP_PID"
echo "  -- $CONNS connections"
c=$CONNS
measure "direct/c$c" "http://127.0.0.1:$UP_PORT/x" "$c" "$THREADS"
# shellcheck disable=SC2046 # a list of pids
measure "nginx/c$c" "http://127.0.0.1:$NGX_PORT/x" "$c" "$THREADS" $(nginx_workers proxy-auto)
measure "chaosgen/c$c" "http://127.0.0.1:$CG_PORT/x" "$c" "$THREADS" "$PID_cg"
measure "chaosgen-bp/c$c" "http://127.0.0.1:$BP_PORT/x" "$c" "$THREADS" "$PID_cgbp"
measure "reverseproxy/c$c" "http://127.0.0.1:$RP_PORT/x" "$c" "$THREADS" "$RP_PID"
stop_pid "$RP_PID"
stop_pid "$PID_cg"
stop_pid "$PID_cgbp"
stop_nginx proxy-auto

echo "== one core: nginx worker_processes 1, chaosgen GOMAXPROCS=1"
start_nginx proxy-1
start_chaosgen cg1 $CG_PORT $ADMIN_PORT 1
start_chaosgen cg1bp $BP_PORT $BP_ADMIN_PORT 1 --busy-poll "$BUSY_POLL"
rounds "direct-1 http://127.0.0.1:$UP_PORT/x" \
	"nginx-1w http://127.0.0.1:$NGX_PORT/x $(nginx_workers proxy-1)" \
	"chaosgen-1p http://127.0.0.1:$CG_PORT/x $PID_cg1" \
	"chaosgen-1p-bp http://127.0.0.1:$BP_PORT/x $PID_cg1bp"
echo "  -- $CONNS connections"
# shellcheck disable=SC2046 # a list of pids
measure "nginx-1w/c$c" "http://127.0.0.1:$NGX_PORT/x" "$c" "$THREADS" $(nginx_workers proxy-1)
measure "chaosgen-1p/c$c" "http://127.0.0.1:$CG_PORT/x" "$c" "$THREADS" "$PID_cg1"
measure "chaosgen-1p-bp/c$c" "http://127.0.0.1:$BP_PORT/x" "$c" "$THREADS" "$PID_cg1bp"
stop_pid "$PID_cg1"
stop_pid "$PID_cg1bp"
stop_nginx proxy-1
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

r() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
us() { awk -v a="$1" 'BEGIN { printf "%+.0f", a }'; }
echo
echo "added p50 at one connection: the median over $ROUNDS rounds of (setup's p50 - direct p50 in the same round) [smallest, largest]"
echo
echo "| setup | p50 @1 conn | added p50 vs direct | added vs nginx's | proxy CPU/req @1 conn | req/s @$CONNS conns | req/s vs nginx |"
echo "|---|---|---|---|---|---|---|"
row() { # key nginx-reference
	local cpu=${CPU[$1/c1]:-} added="" ratio="" rps="" rr=""
	if [ -n "${ADDED[$1]:-}" ]; then
		added="$(us "${ADDED[$1]}") µs [$(us "${ADDMIN[$1]}"), $(us "${ADDMAX[$1]}")]"
		# a ratio of a negative added latency means nothing
		awk -v a="${ADDED[$1]}" -v b="${ADDED[$2]}" 'BEGIN { exit !(a > 0 && b > 0) }' && ratio=$(r "${ADDED[$1]}" "${ADDED[$2]}")
	fi
	if [ -n "${RPS[$1/c$CONNS]:-}" ]; then
		rps=$(printf '%.0f' "${RPS[$1/c$CONNS]}"); rr=$(r "${RPS[$1/c$CONNS]}" "${RPS[$2/c$CONNS]}")
	fi
	printf '| %s | %.1f µs | %s | %s | %s | %s | %s |\n' "$1" "${P50[$1/c1]}" "$added" "$ratio" "${cpu:+$(printf '%.1f' "$cpu") µs}" "$rps" "$rr"
}
for k in direct nginx chaosgen chaosgen-bp reverseproxy; do row "$k" nginx; done
for k in direct-1 nginx-1w chaosgen-1p chaosgen-1p-bp; do row "$k" nginx-1w; done
echo
echo "targets: chaosgen added p50 at 1 conn <= 40 µs: $(us "${ADDED[chaosgen]}") µs" \
	"(--busy-poll $BUSY_POLL: $(us "${ADDED[chaosgen-bp]}") µs; nginx: $(us "${ADDED[nginx]}") µs);" \
	"req/s at $CONNS conns >= 0.70x nginx: $(r "${RPS[chaosgen/c$CONNS]}" "${RPS[nginx/c$CONNS]}")" \
	"(--busy-poll: $(r "${RPS[chaosgen-bp/c$CONNS]}" "${RPS[nginx/c$CONNS]}"); one core: $(r "${RPS[chaosgen-1p/c$CONNS]}" "${RPS[nginx-1w/c$CONNS]}"), with --busy-poll $(r "${RPS[chaosgen-1p-bp/c$CONNS]}" "${RPS[nginx-1w/c$CONNS]}"))"
echo "load average before: $LOAD_BEFORE, after: $LOAD_AFTER ($(nproc) CPUs)"
[ -n "${RECORDS:-}" ] && echo "records: on"
exit 0
