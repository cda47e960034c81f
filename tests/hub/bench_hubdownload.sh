#!/usr/bin/env bash
# Download speed and peak memory of `tunebench-cli download` against curl, for one large file
# served by fake_hub.py on loopback (os.sendfile, so the server is not what is measured).
# Not a CTest test: it writes a few GB and takes a minute.
#
#   tests/hub/bench_hubdownload.sh BUILD_DIR [SIZES_MB...]     (default sizes: 256 1024)
#
# For each size: curl -o of the same URL (redirect followed, as ours does); curl followed by
# sha256sum (closer to the work ours does: ours also checks the SHA-256 and fdatasyncs the
# file; coreutils' sha256sum is slower than OpenSSL's, so this overstates curl's cost);
# bench_hubdownload (HubDownload alone); tunebench-cli download (the same plus loading
# LibTorch: about 0.5 s and 160 MB whatever the size). Each runs twice; the faster is reported.
# Peak RSS from /usr/bin/time -v. The requirement (issue #15): at least half of curl's speed,
# memory not growing with the file's size.
set -euo pipefail

build=${1:?usage: bench_hubdownload.sh BUILD_DIR [SIZES_MB...]}
shift
sizes=("${@:-256 1024}")
# shellcheck disable=SC2206
sizes=(${sizes[*]})
cli=$build/app/tunebench-cli
engine=$build/tests/hub/bench_hubdownload
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$engine" ] || { echo "no $engine: build the bench_hubdownload target first" >&2; exit 2; }
[ -x "$cli" ] || { echo "no $cli: build tunebench-cli first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 2; }

work=$(mktemp -d)
hub_pid=
cleanup() {
    [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# seconds and peak RSS (kB) of a command, from GNU time's report
measure() {
    /usr/bin/time -v -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" || { cat "$work/stderr.txt" >&2; return 1; }
    local wall rss
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    # h:mm:ss or m:ss.ss -> seconds
    echo "$(echo "$wall" | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }') $rss"
}

printf '%-8s %-26s %9s %10s %12s\n' "size" "client" "seconds" "MB/s" "peak RSS"
for mb in "${sizes[@]}"; do
    repo=$work/repo-$mb
    mkdir -p "$repo"
    head -c $((mb * 1000000)) /dev/urandom >"$repo/model.safetensors"
    echo '{"model_type": "llama"}' >"$repo/config.json"

    # fake_hub.py ends when its stdin closes: a FIFO held open here until this size is done.
    rm -f "$work/ctl" "$work/port"
    mkfifo "$work/ctl"
    exec {ctl}<>"$work/ctl"
    python3 "$here/fake_hub.py" --model "bench/m$mb=$repo" <"$work/ctl" >"$work/port" {ctl}>&- &
    hub_pid=$!
    until [ -s "$work/port" ]; do sleep 0.2; done
    read -r port <"$work/port"
    url=http://127.0.0.1:$port/bench/m$mb/resolve/main/model.safetensors

    best() { # best of two runs: "seconds rss"
        local a b
        a=$("$@")
        b=$("$@")
        awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); if (x[1] <= y[1]) print a; else print b }'
    }
    run_curl() { rm -f "$work/curl.out"; measure curl -sS -L -o "$work/curl.out" "$url"; }
    run_curl_sha() {
        rm -f "$work/curl.out"
        measure bash -c "curl -sS -L -o '$work/curl.out' '$url' && sha256sum '$work/curl.out'"
    }
    run_engine() { rm -rf "$work/hf"; HF_HOME=$work/hf HF_ENDPOINT=http://127.0.0.1:$port measure "$engine" "bench/m$mb"; }
    run_cli() { rm -rf "$work/hf"; HF_HOME=$work/hf HF_ENDPOINT=http://127.0.0.1:$port measure "$cli" download "bench/m$mb"; }

    for client in curl curl_sha engine cli; do
        read -r seconds rss < <(best "run_$client")
        case $client in
        curl) label="curl -o" ;;
        curl_sha) label="curl -o && sha256sum" ;;
        engine) label="HubDownload (engine)" ;;
        cli) label="tunebench-cli download" ;;
        esac
        printf '%-8s %-26s %9.2f %10.0f %9.1f MB\n' "${mb}MB" "$label" "$seconds" \
            "$(awk -v mb="$mb" -v s="$seconds" 'BEGIN { print (s > 0 ? mb / s : 0) }')" \
            "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
    done

    exec {ctl}>&-
    wait "$hub_pid" 2>/dev/null || true
    hub_pid=
    rm -rf "$repo" "$work/hf" "$work/curl.out"
done
