"""JobContext: what the framework offers modules besides the chunk."""
from __future__ import annotations

import logging

from hepvq.errors import HepvqError

log = logging.getLogger("hepvq.framework")

DEFAULT_OPTIONS = {"chunkSize": 10000, "numberOfThreads": 1, "providers": ["auto"]}


class JobContext:
    """Options of the job, metadata for the output file, codec declarations and report lines.

    - ``options``: dict with chunkSize, numberOfThreads, providers (and any other process.options entry).
    - ``run_options``: the codecs' run-time options (hepvq.codecs.options.RunOptions: providers, threads,
      batch_size from options.providers, numberOfThreads, batchSize), checked once when the job is built.
    - ``add_metadata(key, bytes|str)``: travels in every output file (convention ``"<label>/<name>"``).
    - ``declare_codec(label, codec_name, collection)``: products of ``label`` decode with that codec.
    - ``report(label, dict)``: lines for the end-of-job TimeReport.
    - ``cfg_dump``: process.dumpPython() of the final configuration.
    - ``process_name``.
    """

    def __init__(self, options=None, cfg_dump: str = "", process_name: str = ""):
        self.options = dict(DEFAULT_OPTIONS)
        self.options.update(options or {})
        self.cfg_dump = cfg_dump
        self.process_name = process_name
        self.metadata: dict[str, bytes] = {}
        self.codecs: dict[str, dict] = {}
        self.reports: dict[str, dict] = {}
        self.input_files: list[str] = []
        from hepvq.codecs.options import RunOptions

        self.run_options = RunOptions.from_process_options(self.options)

    @property
    def providers(self):
        return list(self.run_options.providers or ["auto"])

    @property
    def threads(self) -> int:
        return int(self.options.get("numberOfThreads") or 0)

    def add_metadata(self, key: str, value) -> None:
        if isinstance(value, str):
            value = value.encode()
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise HepvqError(f"metadata '{key}' must be bytes or str, not {type(value).__name__}")
        self.metadata[str(key)] = bytes(value)

    def declare_codec(self, label: str, codec_name: str, collection: str) -> None:
        self.codecs[str(label)] = {"codec": str(codec_name), "collection": str(collection)}

    def report(self, label: str, values: dict) -> None:
        self.reports.setdefault(str(label), {}).update(values)
