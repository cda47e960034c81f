#!/usr/bin/env bash
# Checks the .deb that `cpack -G DEB` made in BUILD_DIR: the control file names the runtime
# libraries' packages, and the package holds both executables, the .desktop entry (valid per
# desktop-file-validate), the icons and the example datasets. Prints the package's path.
set -euo pipefail
BUILD_DIR="${1:?usage: check-package.sh BUILD_DIR}"
deb=$(ls -t "$BUILD_DIR"/tunebench_*.deb 2>/dev/null | head -1)
[[ -n "$deb" ]] || { echo "check-package: no tunebench_*.deb in $BUILD_DIR" >&2; exit 1; }

fail() { echo "check-package: $deb: $*" >&2; exit 1; }
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libtorch libqt6widgets6 libqcustomplot libsqlite3 qt6-qpa-plugins; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
contents=$(dpkg-deb -c "$deb")
for path in ./usr/bin/tunebench ./usr/bin/tunebench-cli ./usr/share/applications/tunebench.desktop \
            ./usr/share/icons/hicolor/scalable/apps/tunebench.svg ./usr/share/icons/hicolor/256x256/apps/tunebench.png \
            ./usr/share/tunebench/datasets/reviews-train.jsonl; do
  grep -q " $path\$" <<<"$contents" || fail "missing $path"
done
if command -v desktop-file-validate >/dev/null; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  dpkg-deb -x "$deb" "$tmp"
  desktop-file-validate "$tmp/usr/share/applications/tunebench.desktop" || fail "invalid .desktop entry"
fi
echo "Package OK: $deb ($(du -h "$deb" | cut -f1)); Depends: $depends"

# On CI (a fresh machine, root), install the package as a user would, dependencies included,
# and run the installed programs once. Off CI the developer's /usr is left alone.
if [[ "${CI:-}" == "true" ]]; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --reinstall "$(realpath "$deb")" >/dev/null
  tmp_model=$(mktemp -d)
  /usr/bin/tunebench-cli make-demo-model --out "$tmp_model/demo" >/dev/null
  /usr/bin/tunebench-cli inspect --model "$tmp_model/demo" | head -3
  QT_QPA_PLATFORM=offscreen /usr/bin/tunebench --version
  rm -rf "$tmp_model"
  echo "Installed package runs: /usr/bin/tunebench, /usr/bin/tunebench-cli"
fi
