#!/bin/sh
# The nodes' Prometheus metrics, checked by Debian's promtool and scraped by a real Prometheus
# server: three nodes (metrics_cluster.c) serve AETHER_METRICS on ports the kernel picks, found
# through aetherctl; promtool accepts each node's exposition; a Prometheus server on loopback
# scrapes all three, and its HTTP API answers a query for the fault latency histogram with every
# node's series, and node 0's remote read faults in it.
# Usage: prometheus.sh AETHER_RUN METRICS_CLUSTER AETHERCTL. Skips (77) without prometheus.
set -eu
run=$1 prog=$2 ctl=$3
for tool in prometheus promtool python3; do
    command -v "$tool" >/dev/null || { echo "SKIP: $tool is not installed (Debian package prometheus)"; exit 77; }
done

work=$(mktemp -d)
cluster= server=
cleanup() {
    touch "$work/stop"
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
    [ -n "$cluster" ] && wait "$cluster" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -n 30 "$f"; done; exit 1; }

. "$(dirname "$0")/within.sh"

export AETHER_ADMIN_DIR="$work/admin" AETHER_METRICS=127.0.0.1:0 AETHER_TIMEOUT_MS=1000
"$run" -n 3 --timeout 150 -- "$prog" "$work/ready" "$work/stop" >"$work/cluster.log" 2>&1 &
cluster=$!
within 60 test -e "$work/ready" || fail "the cluster did not get ready"

metrics_address() { "$ctl" stats --node "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["metrics"])'; }
targets=
for n in 0 1 2; do
    address=$(metrics_address $n) || fail "node $n gave no metrics address"
    python3 -c 'import sys,urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())' \
        "http://$address/metrics" >"$work/node$n.prom" || fail "node $n's /metrics did not answer"
    promtool check metrics <"$work/node$n.prom" >"$work/promtool$n.log" 2>&1 || fail "promtool rejects node $n's metrics"
    targets="$targets${targets:+, }'$address'"
done
echo "promtool accepts the metrics of nodes 0, 1 and 2 ($(wc -l <"$work/node0.prom") lines from node 0)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/prometheus.yml" <<END
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: aether
    static_configs:
      - targets: [$targets]
END
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$port" >"$work/prometheus.log" 2>&1 &
server=$!

# The query: every node's fault latency histogram, and node 0's count of remote read faults.
query() {
    python3 - "$port" "$1" <<'END'
import json, sys, urllib.parse, urllib.request
port, expr = sys.argv[1], sys.argv[2]
url = "http://127.0.0.1:%s/api/v1/query?query=%s" % (port, urllib.parse.quote(expr))
try:
    answer = json.load(urllib.request.urlopen(url, timeout=2))
except Exception:
    sys.exit(1)
if answer.get("status") != "success":
    sys.exit(1)
for r in answer["data"]["result"]:
    print(r["metric"].get("node", ""), r["metric"].get("kind", ""), r["value"][1])
END
}
nodes_seen() { [ "$(query 'count by (node) (aether_fault_duration_seconds_bucket)' | wc -l)" -eq 3 ]; }
within 60 nodes_seen || fail "Prometheus did not scrape the three nodes' fault histograms"
reads=$(query 'aether_fault_duration_seconds_count{node="0",kind="read_remote"}' | awk '{print $NF}')
[ -n "$reads" ] && [ "$reads" -ge 1 ] || fail "node 0's remote read faults: '$reads'"
p50=$(query 'histogram_quantile(0.5, sum by (le) (aether_fault_duration_seconds_bucket{node="0",kind="read_remote"}))' | awk '{print $NF}')
[ -n "$p50" ] || fail "no median from the histogram"
echo "Prometheus scraped 3 nodes; node 0: $reads remote read faults, median under $p50 s"
