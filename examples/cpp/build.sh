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
HERE="$(cd "$(dirname "$0")" && pwd -P)"   # physical: one build dir however it is reached (links)
BUILD="${BUILD_DIR:-$HERE/build}"
PYTHON="${PYTHON:-python3}"
CXX="${CXX:-g++}"
mkdir -p "$BUILD/lib" "$BUILD/include"
# one build at a time in this directory (test sessions running side by side each call this script)
exec 9>"$BUILD/.build.lock"
flock 9

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
source "$HERE/../../cpp/ort_headers.sh"
ort_headers "$BUILD" build.sh

# 3. compile (rpath to the symlinks, so the binary finds the wheel's library without LD_LIBRARY_PATH); nothing
#    to do when the binary is newer than its source, these scripts and the library (tests and the README call this)
BIN="$BUILD/hepvq_encode"
if [ -x "$BIN" ] && [ "$BIN" -nt "$HERE/hepvq_encode.cpp" ] && [ "$BIN" -nt "$0" ] \
   && [ "$BIN" -nt "$HERE/../../cpp/ort_headers.sh" ] && [ "$BIN" -nt "$ORT_LIB" ]; then
  echo "$BIN"; exit 0
fi
"$CXX" -std=c++17 -O2 -Wall -Wextra -I"$INC" "$HERE/hepvq_encode.cpp" -o "$BUILD/hepvq_encode" \
  -L"$BUILD/lib" -lonnxruntime -Wl,-rpath,"$BUILD/lib"
echo "$BUILD/hepvq_encode"
