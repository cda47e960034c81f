#!/usr/bin/env bash
# Training speed on a shared CPU: one `tunebench-cli bench` alone, then two at once on the same
# cores, for each waiting policy of the thread pool given (engine/core/ThreadPoolEnvironment.h).
# Not a CTest test: it needs the machine to itself and takes a few minutes. Issue #16 asks for
# the two together to reach at least 80% of one alone, and one alone no slower than before.
#
#   tests/train/bench_shared_cpu.sh BUILD_DIR [POLICY...]
#
# A POLICY is an environment assignment, or "default" for what tunebench-cli sets itself:
#   tests/train/bench_shared_cpu.sh build default GOMP_SPINCOUNT=300000 OMP_WAIT_POLICY=passive
# (GOMP_SPINCOUNT=300000 is libgomp's own default: tunebench-cli before the policy.)
# Each run: the `small` demo preset, LoRA rank 16, batch 1, SEQ tokens (default 256), STEPS
# steps (default 6), THREADS threads each (default: every usable core). The figure is
# tokens/s over the timed steps as `bench --json` reports them (the median step). A 2-core
# virtual machine varies by +-15% from one run to the next, so the policies take turns, REPS
# rounds (default 3), and the medians over the rounds are reported.
set -euo pipefail

build=${1:?usage: bench_shared_cpu.sh BUILD_DIR [POLICY...]}
shift
policies=("$@")
[ ${#policies[@]} -gt 0 ] || policies=(default)
cli=$build/app/tunebench-cli
[ -x "$cli" ] || { echo "no $cli: build tunebench-cli first" >&2; exit 2; }
seq=${SEQ:-256}
steps=${STEPS:-6}
threads=${THREADS:-0}
model=${MODEL:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$model" ]; then
  model=$work/small
  "$cli" make-demo-model --out "$model" --preset small >/dev/null
fi

one() { # POLICY OUT
  local policy=$1 out=$2 assign=()
  [ "$policy" = default ] || assign=("$policy")
  env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY -u TUNEBENCH_THREAD_ENV "${assign[@]}" \
    "$cli" bench --model "$model" --seq-len "$seq" --steps "$steps" --threads "$threads" --json >"$out"
}
rate() { python3 -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["tokens_per_second"])' "$1"; }

reps=${REPS:-3}
for round in $(seq "$reps"); do
  for i in "${!policies[@]}"; do
    policy=${policies[$i]}
    one "$policy" "$work/alone.json"
    one "$policy" "$work/a.json" & pa=$!
    one "$policy" "$work/b.json" & pb=$!
    wait $pa $pb
    echo "$i $(rate "$work/alone.json") $(rate "$work/a.json") $(rate "$work/b.json")" >>"$work/rounds"
  done
done
printf '%-26s %8s %18s %8s %s\n' policy alone "two at once" total "share of alone"
for i in "${!policies[@]}"; do
  python3 - "$work/rounds" "$i" "${policies[$i]}" <<'PY'
import statistics, sys
rows = [list(map(int, l.split()))[1:] for l in open(sys.argv[1]) if l.split()[0] == sys.argv[2]]
alone = statistics.median(r[0] for r in rows)
a = statistics.median(r[1] for r in rows)
b = statistics.median(r[2] for r in rows)
total = statistics.median(r[1] + r[2] for r in rows)
print("%-26s %8.0f %8.0f + %-8.0f %8.0f %.2f   (rounds: %s)" % (sys.argv[3], alone, a, b, total, total / alone,
      ", ".join("%d|%d" % (r[0], r[1] + r[2]) for r in rows)))
PY
done
echo "(tokens/s, medians of $reps rounds (alone|together each round); small preset, LoRA r16, batch 1 x $seq tokens, $steps steps, threads ${threads/#0/all usable})"
