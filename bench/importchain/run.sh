#!/bin/sh
# Imports single-chain traces of growing length and prints each import's
# wall time and peak RSS (GNU time, Debian package "time"). Memory must grow
# linearly with the spans (docs/import.md, "Memory").
#   bench/importchain/run.sh [SPANS...]   (default: 8000 100000 200000)
set -eu
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
go build -tags disable_grpc_modules -o "$dir/chaosgen" ./cmd/chaosgen
[ -x /usr/bin/time ] || { echo "bench/importchain: needs GNU time (apt-get install time)" >&2; exit 1; }
for n in ${@:-8000 100000 200000}; do
	go run ./bench/importchain -spans "$n" > "$dir/chain.json"
	/usr/bin/time -f "$n spans: %e s, peak RSS %M KB" "$dir/chaosgen" import "$dir/chain.json" -o "$dir/out.parquet" > /dev/null
done
