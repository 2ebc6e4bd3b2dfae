"""TPC compression with implicit neural representations (issue 5; docs/tpc.md).

grid (geometry, coordinate convention, hit-mask context), sampling (importance / entropy / random / full),
fit (per-sector INR fitting batched across sectors, torch), quantise (fp16 / int8 per-layer scales),
coords (lossless hit positions), amortised (encoder + shared modulated decoder, torch) and amortised_rt
(its ONNX run time), codec (TpcInrCodec "tpc_inr"), inr_np (numpy INR forward), metrics, train / export
(`hepvq-train tpc-inr`, `hepvq-export tpc-inr`), synthetic (a quick sector generator for tests).
Only fit, amortised, train and export import torch."""
