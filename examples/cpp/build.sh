#!/usr/bin/env bash
# Build examples/cpp/hepvq_encode against the onnxruntime library of the installed Python wheel.
#
#   examples/cpp/build.sh            -> examples/cpp/build/hepvq_encode   (prints its path last)
#
# The onnxruntime wheel ships libonnxruntime.so.1.<x> but no headers. Headers are taken from, in order:
#   $ORT_INCLUDE (a directory holding onnxruntime_cxx_api.h), a previous run's examples/cpp/build/include,
#   /usr/include/onnxruntime (libonnxruntime-dev installed), or Debian trixie's libonnxruntime-dev .deb
#   (headers only, ~85 kB) fetched with `apt-get download` from a private sources list -- nothing is
#   installed and the system's apt state is not touched. Older headers with a newer library is the
#   direction onnxruntime supports (the C API is versioned). Exit status 3: no headers could be had.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BUILD="${BUILD_DIR:-$HERE/build}"
PYTHON="${PYTHON:-python3}"
CXX="${CXX:-g++}"
mkdir -p "$BUILD/lib" "$BUILD/include"

# 1. the library from the wheel, with the link-time names the linker wants
ORT_LIB="$("$PYTHON" - <<'PY'
import glob, os, onnxruntime
libs = sorted(glob.glob(os.path.join(os.path.dirname(onnxruntime.__file__), "capi", "libonnxruntime.so.1*")))
print(libs[-1] if libs else "")
PY
)"
if [ -z "$ORT_LIB" ]; then echo "build.sh: the onnxruntime wheel has no libonnxruntime.so.1.*" >&2; exit 3; fi
ln -sf "$ORT_LIB" "$BUILD/lib/libonnxruntime.so"
ln -sf "$ORT_LIB" "$BUILD/lib/libonnxruntime.so.1"

# 2. headers
have() { [ -f "$1/onnxruntime_cxx_api.h" ]; }
if [ -n "${ORT_INCLUDE:-}" ] && have "$ORT_INCLUDE"; then INC="$ORT_INCLUDE"
elif have "$BUILD/include/onnxruntime"; then INC="$BUILD/include/onnxruntime"
elif have /usr/include/onnxruntime; then INC=/usr/include/onnxruntime
else
  echo "build.sh: fetching onnxruntime headers (Debian trixie libonnxruntime-dev, download only)" >&2
  APT="$BUILD/apt"
  mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
  # the Debian mirror this machine already uses (first main-archive URI of its apt sources), suite trixie
  MIRROR="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
            | awk '/^URIs:/ && !/security/ {print $2; exit} /^deb / && !/security/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' || true)"
  if [ -z "$MIRROR" ]; then echo "build.sh: no Debian mirror found in the apt sources" >&2; exit 3; fi
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" > "$APT/trixie.list"
  OPTS=(-o "Dir::Etc::sourcelist=$APT/trixie.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$APT/lists"
        -o "Dir::Cache=$APT/cache" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root" -q)
  if command -v apt-get >/dev/null && apt-get "${OPTS[@]}" update >/dev/null 2>"$APT/update.log" \
     && (cd "$APT" && apt-get "${OPTS[@]}" download libonnxruntime-dev >/dev/null 2>"$APT/download.log"); then
    DEB="$(ls "$APT"/libonnxruntime-dev_*.deb | head -1)"
    rm -rf "$APT/x" && dpkg-deb -x "$DEB" "$APT/x"
    cp -r "$APT/x/usr/include/onnxruntime" "$BUILD/include/"
    rm -rf "$APT/x" "$APT/lists" "$APT/cache"
    INC="$BUILD/include/onnxruntime"
  else
    echo "build.sh: no onnxruntime headers: set ORT_INCLUDE, install libonnxruntime-dev, or allow apt-get download (see $APT/*.log)" >&2
    exit 3
  fi
fi

# 3. compile (rpath to the symlinks, so the binary finds the wheel's library without LD_LIBRARY_PATH)
"$CXX" -std=c++17 -O2 -Wall -Wextra -I"$INC" "$HERE/hepvq_encode.cpp" -o "$BUILD/hepvq_encode" \
  -L"$BUILD/lib" -lonnxruntime -Wl,-rpath,"$BUILD/lib"
echo "$BUILD/hepvq_encode"
