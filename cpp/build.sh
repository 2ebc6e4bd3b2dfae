#!/usr/bin/env bash
# Build the hepvq C++ reader (libhepvq_reader.so) and its tools into cpp/build/:
#   hepvq_decode IN.root OUT.root    hepvq_bench COMPRESSED.root RAW.root    hepvq_sha256 FILE...
#
#   cpp/build.sh            (prints the build directory last; BUILD_DIR, PYTHON, JOBS override)
#
# Everything comes from what `pip install -e ".[train,test]"` put on the machine:
#   ROOT        headers + libraries of the `root` wheel (its root-config prints paths of the wheel's build
#               machine, so the prefix is taken from the installed package instead); nlohmann/json ships there
#   onnxruntime libonnxruntime.so.1.* of the wheel; headers (the wheel has none) from $ORT_INCLUDE,
#               a previous build, /usr/include/onnxruntime, examples/cpp/build/include, or Debian trixie's
#               libonnxruntime-dev .deb fetched with `apt-get download` (headers only, nothing installed)
#   the core    ../core (add_subdirectory); liblzma from the system (pixel_sparse streams)
# Exit status 3: a prerequisite could not be had (the message says which).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd -P)"   # physical: one build dir however cpp/ is reached (links)
REPO="$(dirname "$HERE")"
BUILD="${BUILD_DIR:-$HERE/build}"
PYTHON="${PYTHON:-python3}"
JOBS="${JOBS:-2}"
mkdir -p "$BUILD/lib" "$BUILD/include"
# one build at a time in this directory (test sessions running side by side each call this script)
exec 9>"$BUILD/.build.lock"
flock 9

# 1. ROOT and onnxruntime from the Python packages (found without importing them: importing ROOT is slow)
read -r ROOT_PREFIX ORT_LIB < <("$PYTHON" - <<'PY'
import glob, importlib.util, os
r = importlib.util.find_spec("ROOT")
o = importlib.util.find_spec("onnxruntime")
root = os.path.dirname(r.origin) if r and r.origin else ""
libs = sorted(glob.glob(os.path.join(os.path.dirname(o.origin), "capi", "libonnxruntime.so.1*"))) if o else []
print(root or "-", libs[-1] if libs else "-")
PY
)
if [ "$ROOT_PREFIX" = "-" ] || [ ! -f "$ROOT_PREFIX/include/TFile.h" ]; then
  echo "cpp/build.sh: no ROOT with headers in this Python (pip install -e \".[test]\" installs the root wheel)" >&2; exit 3
fi
if [ "$ORT_LIB" = "-" ]; then echo "cpp/build.sh: the onnxruntime wheel has no libonnxruntime.so.1.*" >&2; exit 3; fi
ln -sf "$ORT_LIB" "$BUILD/lib/libonnxruntime.so"
ln -sf "$ORT_LIB" "$BUILD/lib/libonnxruntime.so.1"

# 2. onnxruntime headers
source "$HERE/ort_headers.sh"
ort_headers "$BUILD" cpp/build.sh "$REPO/examples/cpp/build/include/onnxruntime"
if [ ! -f /usr/include/lzma.h ] && [ -z "${LIBLZMA_INCLUDE_DIR:-}" ]; then
  echo "cpp/build.sh: liblzma headers missing (apt-get install liblzma-dev)" >&2; exit 3
fi

# 3. configure (once) and build
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$HERE" -B "$BUILD" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release -DHEPVQ_ROOT_PREFIX="$ROOT_PREFIX" \
    -DORT_LIBRARY="$BUILD/lib/libonnxruntime.so" -DORT_INCLUDE_DIR="$INC" >"$BUILD/configure.log" 2>&1 \
    || { cat "$BUILD/configure.log" >&2; echo "cpp/build.sh: cmake configure failed" >&2; exit 1; }
fi
cmake --build "$BUILD" -j "$JOBS" >"$BUILD/build.log" 2>&1 \
  || { tail -40 "$BUILD/build.log" >&2; echo "cpp/build.sh: build failed (log: $BUILD/build.log)" >&2; exit 1; }
echo "$BUILD"
