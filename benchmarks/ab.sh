#!/bin/bash
# A/B throughput at 32 clients (AB_CLIENTS to change) between checkouts and settings, interleaved (wrk, 2 s warm-up + 10 s per run),
# on the benchmark's MNIST model and body (python -m benchmarks.prepare build/benchmarks first).
#   benchmarks/ab.sh ROUNDS NAME=CHECKOUT_DIR:ENV=V,ENV=V ...
# e.g. git worktree add /tmp/old 5834ad8; benchmarks/ab.sh 5 old=/tmp/old: new=.: log=.:PREDICTION_LOG_SAMPLE=0.01
# Prints one BENCH_RESULT line (benchmarks/predict.lua) per server and round; servers' logs go to $AB_LOGS.
set -u
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ROUNDS=$1
shift
BODY="$ROOT/build/benchmarks/body.json"
MODEL="$ROOT/build/benchmarks/models/mnist"
LUA="$ROOT/benchmarks/predict.lua"
PY="$ROOT/.venv/bin/python"
LOGS="${AB_LOGS:-$(mktemp -d)}"
CLIENTS="${AB_CLIENTS:-32}"
THREADS=$((CLIENTS < 2 ? CLIENTS : 2))  # wrk needs a connection per thread
declare -A PORTS PIDS
port=9100
for spec in "$@"; do
    name=${spec%%=*} rest=${spec#*=}
    dir=${rest%%:*} envs=${rest#*:}
    IFS=',' read -ra extra <<<"$envs"
    (cd "$dir" && exec env MODEL_URI="$MODEL" PORT=$port "${extra[@]}" "$PY" -m app) >"$LOGS/$name.log" 2>&1 &
    PIDS[$name]=$! PORTS[$name]=$port
    port=$((port + 1))
done
trap 'kill -TERM "${PIDS[@]}" 2>/dev/null; wait' EXIT
for name in "${!PORTS[@]}"; do
    for _ in $(seq 1 120); do curl -sf "localhost:${PORTS[$name]}/readyz" >/dev/null && break; sleep 1; done
done
for r in $(seq 1 "$ROUNDS"); do
    for spec in "$@"; do
        name=${spec%%=*} p=${PORTS[${spec%%=*}]}
        wrk -t $THREADS -c $CLIENTS -d 2s -s "$LUA" "http://127.0.0.1:$p/predict" -- "$BODY" >/dev/null 2>&1
        echo "round $r $name $(wrk -t $THREADS -c $CLIENTS -d 10s -s "$LUA" "http://127.0.0.1:$p/predict" -- "$BODY" 2>&1 | grep BENCH_RESULT)"
    done
done
