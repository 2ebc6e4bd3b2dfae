# Sourced by cpp/build.sh and examples/cpp/build.sh: find onnxruntime's C++ headers (the wheel ships none).
#
#   ort_headers BUILD_DIR NAME [EXTRA_DIR...]   -> sets INC to a directory holding onnxruntime_cxx_api.h
#
# Order: $ORT_INCLUDE, BUILD_DIR/include/onnxruntime (a previous run), /usr/include/onnxruntime
# (libonnxruntime-dev installed), each EXTRA_DIR, else Debian trixie's libonnxruntime-dev .deb (headers only)
# fetched with `apt-get download` from a private sources list into BUILD_DIR/include -- nothing is installed
# and the system's apt state is not touched. Older headers with a newer library is the direction onnxruntime
# supports (the C API is versioned). Exits 3 naming NAME when no headers can be had.
_ort_have() { [ -f "$1/onnxruntime_cxx_api.h" ]; }

ort_headers() {
  local build="$1" name="$2" d
  shift 2
  INC=""
  if [ -n "${ORT_INCLUDE:-}" ] && _ort_have "$ORT_INCLUDE"; then INC="$ORT_INCLUDE"; return; fi
  for d in "$build/include/onnxruntime" /usr/include/onnxruntime "$@"; do
    if _ort_have "$d"; then INC="$d"; return; fi
  done
  echo "$name: fetching onnxruntime headers (Debian trixie libonnxruntime-dev, download only)" >&2
  local apt="$build/apt"
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$build/include"
  # the Debian mirror this machine already uses (first main-archive URI of its apt sources), suite trixie
  local mirror
  mirror="$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
            | awk '/^URIs:/ && !/security/ {print $2; exit} /^deb / && !/security/ {for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {print $i; exit}}' || true)"
  if [ -z "$mirror" ]; then echo "$name: no Debian mirror found in the apt sources" >&2; exit 3; fi
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$apt/trixie.list"
  local opts=(-o "Dir::Etc::sourcelist=$apt/trixie.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$apt/lists"
              -o "Dir::Cache=$apt/cache" -o "APT::Get::List-Cleanup=0" -o "APT::Sandbox::User=root" -q)
  if command -v apt-get >/dev/null && apt-get "${opts[@]}" update >/dev/null 2>"$apt/update.log" \
     && (cd "$apt" && apt-get "${opts[@]}" download libonnxruntime-dev >/dev/null 2>"$apt/download.log"); then
    local deb
    deb="$(ls "$apt"/libonnxruntime-dev_*.deb | head -1)"
    rm -rf "$apt/x" && dpkg-deb -x "$deb" "$apt/x"
    cp -r "$apt/x/usr/include/onnxruntime" "$build/include/"
    rm -rf "$apt/x" "$apt/lists" "$apt/cache"
    INC="$build/include/onnxruntime"
  else
    echo "$name: no onnxruntime headers: set ORT_INCLUDE, install libonnxruntime-dev, or allow apt-get download (see $apt/*.log)" >&2
    exit 3
  fi
}
