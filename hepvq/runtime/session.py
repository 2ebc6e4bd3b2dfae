"""onnxruntime sessions: one shared session per model file (like CMSSW's ONNXRuntime global cache),
providers chosen at run time (CUDA when onnxruntime-gpu and a GPU are present, CPU otherwise, said once
in the log), input/output names read from the model, and size errors that name the input.

Sessions are lazy: loading a model reads its hash and metadata_props and refuses external data (a protobuf
walk, hepvq.runtime.onnx_scan), and onnxruntime is imported and the session built only when the graph first
runs -- the pixel codecs' compiled core serves most jobs from the codebooks alone (issue 13)."""
from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import numpy as np

from hepvq.errors import ModelError

log = logging.getLogger("hepvq.runtime")

_CACHE: dict[tuple, "OnnxModel"] = {}
_LOCK = threading.Lock()
_SAID: set[tuple] = set()


def available_providers() -> list[str]:
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_providers(requested=None) -> list[str]:
    """The providers to use: `requested` filtered to those available (in order), else CUDA then CPU.

    "auto" (or None/empty) means CUDA when available, CPU always as the fallback."""
    avail = available_providers()
    if not requested or list(requested) in (["auto"], ("auto",)):
        wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    else:
        wanted = list(requested)
        unknown = [p for p in wanted if p not in avail]
        if unknown and all(p != "CPUExecutionProvider" for p in wanted):
            wanted.append("CPUExecutionProvider")
        for p in unknown:
            log.warning("onnxruntime provider %s is not available here (have: %s); falling back", p, ", ".join(avail))
    chosen = [p for p in wanted if p in avail] or ["CPUExecutionProvider"]
    key = tuple(chosen)
    if key not in _SAID:
        _SAID.add(key)
        log.info("onnxruntime providers: %s", ", ".join(chosen))
    return chosen


class OnnxModel:
    """A loaded ONNX model: metadata (metadata_props as a dict of str), hash of its bytes and, built on first
    use, the onnxruntime session."""

    def __init__(self, model_bytes: bytes, *, name: str = "<bytes>", providers=None, intra_op_threads: int = 0):
        from hepvq.runtime.onnx_scan import NotProtobuf, external_tensor, metadata_props

        self.name = name
        self.sha256 = hashlib.sha256(model_bytes).hexdigest()
        self.model_bytes = model_bytes
        self._providers_requested = providers
        self.requested_providers = ("auto",) if not providers or list(providers) == ["auto"] else tuple(providers)
        self._intra_op_threads = int(intra_op_threads or 0)
        self._session = None
        self._session_lock = threading.Lock()
        # the session is built from these bytes alone: a graph pointing at external data would make onnxruntime
        # open a file the (possibly untrusted) model names, so such a graph is refused
        try:
            ext = external_tensor(model_bytes)
            self.metadata: dict[str, str] = metadata_props(model_bytes)
        except NotProtobuf as err:
            raise ModelError(f"cannot load ONNX model {name}: not an ONNX protobuf ({err})") from err
        if ext:
            raise ModelError(f"ONNX model {name} has {ext}; hepvq only runs self-contained models "
                             "(export without external data)")

    @property
    def session(self):
        """The onnxruntime session (onnxruntime imported and the session built on first use, once)."""
        if self._session is None:
            with self._session_lock:
                if self._session is None:
                    self._session = self._make_session()
        return self._session

    @property
    def has_session(self) -> bool:
        """Whether the session has been built (i.e. the graph ran or its names/providers were asked for)."""
        return self._session is not None

    def _make_session(self):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if self._intra_op_threads:
            opts.intra_op_num_threads = self._intra_op_threads
        opts.log_severity_level = 3
        try:
            session = ort.InferenceSession(self.model_bytes, sess_options=opts,
                                           providers=choose_providers(self._providers_requested))
        except Exception as err:  # onnxruntime raises its own Fail/InvalidProtobuf types
            text = str(err).strip().splitlines()
            raise ModelError(f"cannot load ONNX model {self.name}: {text[0] if text else type(err).__name__}") from err
        self._input_shapes = {i.name: i.shape for i in session.get_inputs()}
        return session

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.session.get_inputs()]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self.session.get_outputs()]

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def run(self, inputs: dict[str, np.ndarray], batch_size: int = 65536) -> dict[str, np.ndarray]:
        """Run the model on inputs whose first axis is the batch, in slices of `batch_size` rows."""
        session = self.session
        for name, arr in inputs.items():
            if name not in self._input_shapes:
                raise ModelError(f"model {self.name} has no input '{name}' (inputs: {', '.join(self.input_names)})")
            shape = self._input_shapes[name]
            for axis, (want, got) in enumerate(zip(shape[1:], arr.shape[1:]), start=1):
                if isinstance(want, int) and want != got:
                    raise ModelError(f"model {self.name}: input '{name}' has wrong size {got} on axis {axis}, expected {want}")
        outputs = self.output_names
        n = len(next(iter(inputs.values())))
        if n == 0:
            return {o: None for o in outputs}
        pieces: dict[str, list] = {o: [] for o in outputs}
        for start in range(0, n, batch_size):
            feed = {k: np.ascontiguousarray(v[start:start + batch_size]) for k, v in inputs.items()}
            for o, value in zip(outputs, session.run(outputs, feed)):
                pieces[o].append(value)
        return {o: np.concatenate(v) if len(v) > 1 else v[0] for o, v in pieces.items()}

    # Sessions are not picklable: drop them and rebuild lazily (coffea's ml_tools pattern) so that
    # codecs holding a model travel to Dask workers.
    def __getstate__(self):
        return {"model_bytes": self.model_bytes, "name": self.name, "providers": self._providers_requested,
                "intra_op_threads": self._intra_op_threads}

    def __setstate__(self, state):
        self.__init__(state["model_bytes"], name=state["name"], providers=state.get("providers"),
                      intra_op_threads=state.get("intra_op_threads", 0))


def load_model(source, *, providers=None, intra_op_threads: int = 0, name: str | None = None) -> OnnxModel:
    """One shared OnnxModel per (file or bytes hash, providers): a path or the model's bytes (``name``: where
    the bytes came from, for error messages)."""
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), name or "<bytes>"
    else:
        path = Path(source)
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist")
        data, name = path.read_bytes(), str(path)
    # keyed by the providers asked for (choosing them needs onnxruntime, imported only when a graph runs)
    wanted = ("auto",) if not providers or list(providers) == ["auto"] else tuple(providers)
    key = (hashlib.sha256(data).hexdigest(), wanted, int(intra_op_threads or 0))
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = OnnxModel(data, name=name, providers=providers, intra_op_threads=intra_op_threads)
        return _CACHE[key]
