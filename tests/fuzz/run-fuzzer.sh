#!/usr/bin/env bash
# Runs one libFuzzer target.
#   run-fuzzer.sh FUZZER WORKDIR N MAXLEN DIR...
# By default (CTest) N inputs from seed 1: a fixed amount of work, though not the same inputs on
# every run (libFuzzer's mutation schedule also depends on timing). With TUNEBENCH_FUZZ_SECONDS=S
# in the environment (installer/setup.sh fuzz S) it is a campaign of S seconds, random seed.
# MAXLEN: the largest input in bytes.
# DIRs: the regressions folder first (replayed whole), then seed corpora; missing ones are
# skipped. New inputs go to WORKDIR/corpus, emptied at the start of each deterministic run, or
# WORKDIR/campaign, kept from one campaign to the next. A crashing input lands in WORKDIR/crashes; once the bug is fixed it goes
# into tests/fuzz/regressions/<fuzzer>/, so every later run replays it (inputs longer than MAXLEN
# are cut to it when read). On a failure the crashing inputs are printed in base64, so a CI log
# is enough to reproduce one.
set -euo pipefail
if (($# < 4)); then
  echo "usage: $0 FUZZER WORKDIR RUNS MAXLEN [DIR...]" >&2
  exit 2
fi
fuzzer="$1"; work="$2"; runs="$3"; maxlen="$4"; shift 4
dirs=()
for d in "$@"; do [[ -d "$d" ]] && dirs+=("$d"); done

mkdir -p "$work/crashes" "$work/tmp"
rm -f "$work"/tmp/*
touch "$work/started"
# The targets write each input to a scratch file in $TMPDIR.
export TMPDIR="$work/tmp"
if [[ -n "${TUNEBENCH_FUZZ_SECONDS:-}" ]]; then
  corpus="$work/campaign"
  limit=(-max_total_time="$TUNEBENCH_FUZZ_SECONDS")
else
  corpus="$work/corpus"
  rm -rf "$corpus"
  limit=(-runs="$runs" -seed=1)
fi
mkdir -p "$corpus"
# -timeout: one input may take 10 s under ASan before it counts as a hang; -rss_limit_mb and
# -malloc_limit_mb: a parser must refuse an absurd size, not try to allocate it.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
status=0
"$fuzzer" "${limit[@]}" -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -artifact_prefix="$work/crashes/" -print_final_stats=1 "$corpus" "${dirs[@]}" || status=$?
if ((status != 0)); then
  for f in "$work"/crashes/*; do
    [[ -f "$f" && "$f" -nt "$work/started" ]] || continue
    echo "== $(basename "$f") ($(stat -c %s "$f") bytes), base64:"
    base64 -w 0 "$f" | head -c 200000
    echo
  done
fi
exit "$status"
