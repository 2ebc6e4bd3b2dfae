"""Production inference: onnxruntime sessions only (no torch). See session.py."""
from hepvq.runtime.session import OnnxModel, available_providers, choose_providers, load_model

__all__ = ["OnnxModel", "available_providers", "choose_providers", "load_model"]
