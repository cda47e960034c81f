#!/usr/bin/env bash
# Data-parallel on this machine: one process with T threads against N processes with T/N
# threads each (tunebench-cli train --nproc-per-node), the same global batch, taking turns for
# ROUNDS rounds (this VM's speed drifts). Prints each run's median tokens/s over the steps after
# the first two, and rank 0's time in collectives per step against the step time.
#   tests/dist/bench_dataparallel.sh BUILD_DIR [MODEL_DIR]
# Environment: N (2), T (2), STEPS (12), SEQ (256), BATCH (global, 4), ROUNDS (2).
set -euo pipefail
BUILD=${1:?usage: bench_dataparallel.sh BUILD_DIR [MODEL_DIR]}
CLI=$BUILD/app/tunebench-cli
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${N:-2}; T=${T:-2}; STEPS=${STEPS:-12}; SEQ=${SEQ:-256}; BATCH=${BATCH:-4}; ROUNDS=${ROUNDS:-2}
WORK=$(mktemp -d /tmp/bench-dp-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
MODEL=${2:-$WORK/model}
[ -f "$MODEL/config.json" ] || "$CLI" make-demo-model --out "$MODEL" --preset small > /dev/null
DATA=$ROOT/resources/datasets/reviews-train.jsonl

run() { # name, extra args...
    local name=$1; shift
    "$CLI" train --model "$MODEL" --data "$DATA" --seq-len "$SEQ" --steps "$STEPS" --save-every 0 --eval-every 0 \
        --val-fraction 0.02 --pack --no-db --json --out "$WORK/$name" "$@" > "$WORK/$name.jsonl" 2> "$WORK/$name.err"
    python3 - "$WORK/$name.jsonl" "$name" <<'PY'
import json, statistics, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{')]
rates = [e['tokens_per_second'] for e in events if e.get('event') == 'step'][2:]
logs = [e['message'] for e in events if e.get('event') == 'log' and 'collectives' in e.get('message', '')]
print(f"{sys.argv[2]:>24}: {statistics.median(rates):7.0f} tokens/s  {logs[-1].split('; ')[-1] if logs else ''}")
PY
    rm -rf "${WORK:?}/$name"
}

for round in $(seq "$ROUNDS"); do
    run "1x${T}-round$round" --batch-size "$BATCH" --threads "$T"
    run "${N}x$((T / N))-round$round" --batch-size $((BATCH / N)) --threads $((T / N)) --nproc-per-node "$N"
done
