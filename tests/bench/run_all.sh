#!/usr/bin/env bash
# Runs every benchmark and prints its figures. usage: tests/bench/run_all.sh [BUILD_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${1:-$root/build}/bin
echo "== encoding throughput (one core)"
taskset -c 0 "$bin/encode_bench" --benchmark_counters_tabular=true
echo
echo "== ingest throughput and linkd peak RSS (1M records), insecure and mTLS"
"$bin/ingest_bench" --mtls
echo
echo "== privacy: frequency-alignment attacks by a curious operator"
"$bin/privacy_attack_bench"
echo
echo "== Dice kernel"
"$bin/dice_bench"
echo
echo "== blocking pair completeness"
"$bin/blocking_bench"
echo
echo "== linkage quality against the synthetic ground truth (50k children)"
"$bin/quality_bench"
echo
echo "== bulk linking of 1M records and incremental latency"
"$bin/latency_bench"
echo
echo "== audit log verification (10M entries)"
"$bin/audit_verify_bench"
echo
echo "== notification latency (event submit -> subscriber, 1M children)"
"$bin/notify_latency_bench"
echo
echo "== research extract: release and open (100k children with journeys)"
"$bin/extract_bench"
echo
echo "== research extract through the daemon (100k children with journeys)"
"$bin/extract_daemon_bench"
