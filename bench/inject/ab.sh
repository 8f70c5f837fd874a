#!/usr/bin/env bash
# A/B of two chaosgen binaries at 32 connections, with nginx as the
# reference, on a machine whose load moves: ROUNDS rounds (default 6), each
# running nginx, A and B for DURATION (default 8s) with wrk, in alternating
# order (A before B in odd rounds, after it in even ones: the position in a
# round biased single runs by several percent). Prints each run's
# requests/s and the proxy's CPU time per request (user + system, from
# /proc), then the medians and the ratios. Upstream: nginx serving a static
# 1 KiB body, as in run.sh.
#
#   git worktree add /tmp/base main && (cd /tmp/base && go build -tags disable_grpc_modules -o /tmp/chaosgen-a ./cmd/chaosgen)
#   go build -tags disable_grpc_modules -o /tmp/chaosgen-b ./cmd/chaosgen
#   bench/inject/ab.sh /tmp/chaosgen-a /tmp/chaosgen-b
set -euo pipefail
A=${1:?usage: ab.sh CHAOSGEN-A CHAOSGEN-B}
B=${2:?usage: ab.sh CHAOSGEN-A CHAOSGEN-B}
ROUNDS=${ROUNDS:-6}
DURATION=${DURATION:-8s}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
W=$(mktemp -d /tmp/chaosgen-ab.XXXXXX)
chmod 755 "$W"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
head -c 1024 /dev/zero | tr '\0' 'x' >"$W/body"
cat >"$W/up.conf" <<NGX
worker_processes 1; pid $W/up.pid; error_log $W/up.err warn; events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
 server { listen 127.0.0.1:18280; location / { root $W; try_files /body =404; default_type application/octet-stream; } } }
NGX
cat >"$W/px.conf" <<NGX
worker_processes auto; pid $W/px.pid; error_log $W/px.err warn; events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s; upstream up { server 127.0.0.1:18280; keepalive 128; }
 server { listen 127.0.0.1:18281; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
NGX
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	"$NGINX" -c "$W/up.conf" -p "$W" -s stop 2>/dev/null || true
	"$NGINX" -c "$W/px.conf" -p "$W" -s stop 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT
"$NGINX" -c "$W/up.conf" -p "$W" -e "$W/up.err"
"$NGINX" -c "$W/px.conf" -p "$W" -e "$W/px.err"
# the bundle of run.sh: profiles that match every request and never fire
ssh-keygen -q -t ed25519 -N '' -C bench@chaosgen -f "$W/key"
sed -n '/^cat > "\$WORK\/bundle.json" <<.JSON.$/,/^JSON$/p' "$ROOT/bench/inject/run.sh" | sed '1d;$d' >"$W/bundle.json"
ssh-keygen -q -Y sign -f "$W/key" -n chaosgen-bundle "$W/bundle.json"
start() { # binary port admin-port
	"$1" inject --bundle "$W/bundle.json" --pub "$W/key.pub" --service bench --listen "127.0.0.1:$2" \
		--admin "127.0.0.1:$3" --upstream http://127.0.0.1:18280 2>>"$W/chaosgen.log" &
	pids+=($!)
}
start "$A" 18282 18292
PID_a=$!
start "$B" 18283 18293
PID_b=$!
sleep 1
PID_nginx=$(pgrep -P "$(cat "$W/px.pid")" | tr '\n' ' ')
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done; echo "$t"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))
echo "A=$A B=$B, $ROUNDS rounds of $DURATION at 32 connections, load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
for r in $(seq "$ROUNDS"); do
	order="nginx:18281 a:18282 b:18283"
	[ $((r % 2)) = 0 ] && order="b:18283 a:18282 nginx:18281"
	for s in $order; do
		n=${s%%:*} pv=PID_${s%%:*}
		t0=$(ticks ${!pv})
		out=$(wrk -t2 -c32 -d"$DURATION" "http://127.0.0.1:${s#*:}/")
		t1=$(ticks ${!pv})
		rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
		reqs=$(awk '/requests in/ {print $1}' <<<"$out")
		echo "round $r $n $rps $(awk -v d=$((t1 - t0)) -v u=$TICK_US -v n="$reqs" 'BEGIN { printf "%.2f", d * u / n }')"
	done
done | tee "$W/runs"
awk '
	{ rps[$3, $2] = $4; cpu[$3, $2] = $5; rounds[$2] = 1 }
	function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	END {
		n = 0; for (r in rounds) { n++; ra[n] = rps["a", r] / rps["nginx", r]; rb[n] = rps["b", r] / rps["nginx", r]; ba[n] = rps["b", r] / rps["a", r]; ca[n] = cpu["a", r]; cb[n] = cpu["b", r]; cn[n] = cpu["nginx", r] }
		printf "medians over %d rounds: req/s A/nginx %.3f, B/nginx %.3f, B/A %.3f; proxy CPU per request: nginx %.2f us, A %.2f us, B %.2f us\n", n, median(ra, n), median(rb, n), median(ba, n), median(cn, n), median(ca, n), median(cb, n)
	}' "$W/runs"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
