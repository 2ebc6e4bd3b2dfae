#!/usr/bin/env bash
# GPU checks of the pixel_vq encoder, as one prepared script for a machine with a GPU (a few minutes):
#   1. provider detection (onnxruntime's CUDA provider present and usable?),
#   2. parity: VQ indices from encoder.onnx on CUDA == on CPU == the compiled core's search (ambiguous
#      rows excepted, which go to onnxruntime anyway), on real patches of the shipped sample,
#   3. throughput in hits/s of the encoder graph on CPU vs CUDA and of the core's search.
# Exit 0 with "SKIP" when no CUDA provider or no GPU is present (CI, laptops), non-zero on a parity failure.
#   bash benchmarks/gpu_check.sh [EVENTS]        (default 2 events of data/pixel_pu200_sample.root)
#   GPU_CHECK_DRY=1 bash benchmarks/gpu_check.sh  runs every step with the CPU provider in the GPU's place
#                                                 (checks the script itself on a machine without a GPU)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-2}"
exec python - "$EVENTS" <<'PY'
import sys, time
import numpy as np, awkward as ak, uproot, onnxruntime as ort

import os

events = int(sys.argv[1])
have = ort.get_available_providers()
print(f"onnxruntime {ort.__version__}, providers: {', '.join(have)}")
DEVICE = "CPUExecutionProvider" if os.environ.get("GPU_CHECK_DRY") else "CUDAExecutionProvider"
if DEVICE not in have:
    print("SKIP: onnxruntime has no CUDA provider here (pip install onnxruntime-gpu on a GPU machine)")
    sys.exit(0)
from hepvq.pixel.codec import PixelVQCodec

model = "data/models/pixel_vq"
try:
    gpu = PixelVQCodec.from_directory(model, providers=[DEVICE])
    used = gpu.encoder.session.get_providers() if hasattr(gpu.encoder, "session") else []
except Exception as err:  # a CUDA provider without a usable GPU
    print(f"SKIP: the CUDA provider cannot start here ({str(err).splitlines()[0]})")
    sys.exit(0)
if used and DEVICE not in used:
    print(f"SKIP: onnxruntime fell back to {used} (no usable GPU)")
    sys.exit(0)
cpu = PixelVQCodec.from_directory(model, providers=["CPUExecutionProvider"])
t = uproot.open("data/pixel_pu200_sample.root")["Events"]
hits = ak.zip({k: t[f"PixelDigi_{k}"].array(entry_stop=events) for k in ("detId", "row", "col", "adc")})
h, p = cpu.patches(hits)
dense = p.dense_mask()
multi = dense.sum(1) >= 2
x = (p.adc[multi] / p.adc[multi].sum(1, keepdims=True)).astype(np.float32)
m = dense[multi].astype(np.float32)
n_hits = int(dense.sum())

def timed(fn):
    fn()  # warm-up
    t0 = time.perf_counter(); out = fn(); return out, time.perf_counter() - t0

i_cpu, t_cpu = timed(lambda: cpu._run_onnx_encoder(x, m)[:, 0])
i_gpu, t_gpu = timed(lambda: gpu._run_onnx_encoder(x, m)[:, 0])
(i_core, amb), t_core = timed(lambda: cpu._fast.search(x, m, p.mask[multi]))
bad_gpu = int((i_gpu != i_cpu).sum())
bad_core = int((i_core[~amb] != i_cpu[~amb]).sum())
print(f"patches {len(x):,} ({n_hits:,} hits): CPU onnx {n_hits / t_cpu:.3g} hits/s, {DEVICE} onnx {n_hits / t_gpu:.3g} "
      f"hits/s, core search {n_hits / t_core:.3g} hits/s")
print(f"parity: CUDA vs CPU differ on {bad_gpu} rows; core vs CPU on {bad_core} rows ({int(amb.sum())} ambiguous)")
if bad_gpu or bad_core:
    print("FAIL: indices differ"); sys.exit(1)
print("PASS")
PY
