"""The one decoder module of hepvq: HepvqDecoder decodes the codecs declared in the compressed input file (pixel_vq,
pixel_sparse, tpc_inr, any codec of the ``hepvq.codecs`` entry-point group) back to collections in the input
schema, with nothing but the file (its metadata holds the decoders), each input file with its own codecs.

PixelDigiVQDecoder and TpcInrDecoder are the older per-codec names, kept so that existing cfgs run: the same
module with ``src`` (the encoder's label) selecting one codec, and a check of the codec's name."""
from __future__ import annotations

import hepvq.config as cms
from hepvq.codecs.guard import decode_checked
from hepvq.errors import DataError, ModelError
from hepvq.framework import EDProducer, register_module
from hepvq.io.layout import SCHEMA


def _label_of(tag) -> str:
    """The module label of an InputTag parameter ('' when empty)."""
    label = tag.label if hasattr(tag, "label") else str(tag).split(":")[0]
    return label() if callable(label) else label


@register_module
class HepvqDecoder(EDProducer):
    """Decode the codecs declared in the input file's provenance back to their collections (PixelDigi, TpcHit...).

    ``collection="PixelDigi"``: decode the codec(s) of that collection and put the result under instance ""
    (so ``branchAliases = cms.untracked.PSet(<label>=cms.untracked.string("PixelDigi"))`` names the branches
    PixelDigi_*); a collection stored without codec (a plain DIGI file) is put unchanged, and nothing is put when
    the file holds neither.  ``collection=""``: decode every codec, each under instance = its collection name.
    ``src="pixelVQ"``: decode only the products of that encoder label, under instance "" (every input file must
    have it).  Each input file decodes with its own codecs (files compressed with different models mix).
    Every decode verifies the per-event checksum and the decoded ranges (hepvq.codecs.guard); a file with no
    codec and no DIGI collection at all is refused (its hepvq metadata was probably stripped)."""

    #: codec names this module type accepts (empty: any); the per-codec aliases below narrow it
    codec_names: tuple[str, ...] = ()

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("collection", cms.string(""),
                 "collection to decode (PixelDigi, TpcHit); empty: all, each under instance = collection")
        desc.add("src", cms.InputTag(""), "label of one encoder whose products to decode (instance \"\"); empty: "
                                          "select by collection")
        desc.add("required", cms.untracked.bool(False),
                 "fail when the input file has no codec for `collection` (default: put nothing)")

    @property
    def src_label(self) -> str:
        return _label_of(self.params.src)

    @property
    def _collection(self) -> str:
        return getattr(self.params, "collection", "")

    @property
    def _required(self) -> bool:
        return bool(getattr(self.params, "required", True))

    def beginJob(self):  # noqa: N802
        files = list(getattr(self.context, "input_files", []) or [])
        if not files:
            raise ModelError(f"{self.type_name} '{self.label}': the job has no input file to read codecs from")
        self.files = files
        self.events = 0
        self.passed: set[str] = set()
        self._plans = {}
        self.plan = self._plan_for(files[0])
        self._plan_file = files[0]

    def _codecs_of(self, path) -> dict:
        from hepvq.io.reading import codecs_from_file

        # blobs verified, undecodable codecs refused (naming the file); the job's run-time options (providers,
        # threads, batch size from process.options)
        return codecs_from_file(path, options=self.context.run_options)

    def _plan_for(self, path):
        """[(encoder label, codec, collection, {instance: prefix})] of one input file: files compressed with
        different models decode with their own codecs."""
        if path in self._plans:
            return self._plans[path]
        codecs = self._codecs_of(path)
        name = f"{self.type_name} '{self.label}'"
        if self.src_label:
            if self.src_label not in codecs:
                raise ModelError(f"{name}: input file {path} has no codec for label '{self.src_label}' "
                                 f"(codecs: {', '.join(codecs) or 'none'})")
            codec, coll, prefixes = codecs[self.src_label]
            if self.codec_names and codec.name not in self.codec_names:
                raise ModelError(f"{name}: codec of '{self.src_label}' in {path} is {codec.name}, not "
                                 f"{' or '.join(self.codec_names)}")
            plan = [(self.src_label, codec, coll, prefixes)]
        else:
            want = self._collection
            if not codecs and not self._has_plain_hits(path):
                raise DataError(f"{name}: input file {path} declares no codec and holds no "
                                f"{' or '.join(SCHEMA)} collection: nothing to decompress (is its hepvq metadata "
                                "missing?)")
            plan = [(label, codec, coll, prefixes) for label, (codec, coll, prefixes) in codecs.items()
                    if not want or coll == want]
            if want and len(plan) > 1:
                raise ModelError(f"{name}: {len(plan)} codecs in {path} decode to '{want}' "
                                 f"({', '.join(p[0] for p in plan)}); cannot merge them")
            if want and not plan and self._required:
                have = sorted({c for (_cd, c, _p) in codecs.values()})
                raise ModelError(f"{name}: input file {path} has no codec for collection '{want}' "
                                 f"(has: {', '.join(have) or 'none'})")
            colls = [p[2] for p in plan]
            if len(set(colls)) != len(colls):
                raise ModelError(f"{name}: several codecs in {path} decode to the same collection {colls}")
        self._plans[path] = plan
        return plan

    def _products(self, chunk, label, prefixes) -> dict:
        return {inst: chunk.get((label, inst)) for inst in prefixes}

    def produce(self, chunk):
        src = getattr(chunk, "source_file", None)
        if src and src != self._plan_file:
            plan = self._plan_for(src)
            if [(p[0], p[2]) for p in plan] != [(p[0], p[2]) for p in self.plan]:
                raise ModelError(f"{self.type_name} '{self.label}': input file {src} declares codecs "
                                 f"{[(p[0], p[2]) for p in plan]} unlike the first file's "
                                 f"{[(p[0], p[2]) for p in self.plan]}")
            self.plan, self._plan_file = plan, src
        single = bool(self._collection or self.src_label)
        for label, codec, coll, prefixes in self.plan:
            try:
                decoded = decode_checked(codec, self._products(chunk, label, prefixes), file=src or self._plan_file or "?",
                                         label=label, first_entry=getattr(chunk, "file_entry_start",
                                                                          chunk.entry_start))
            except DataError as err:
                raise DataError(f"{self.type_name} '{self.label}': {err}") from err
            chunk.put(decoded, "" if single else coll)
        self.events += chunk.n
        if self.src_label:
            return
        # a collection stored plainly (a DIGI file, or one kept next to the products) passes through unchanged
        decoded = {p[2] for p in self.plan}
        wanted = [self._collection] if self._collection else [c for c in SCHEMA if c not in decoded]
        for coll in wanted:
            if coll not in decoded and chunk.has((coll, "")):
                chunk.put(chunk.get((coll, "")), "" if self._collection else coll)
                self.passed.add(coll)

    def _has_plain_hits(self, path) -> bool:
        from hepvq.io.rootfile import open_root

        f = open_root(path)[0]
        try:  # any TTree of the file: the source's treeName is not known here
            names = {n for k, cls in f.classnames(recursive=False, cycle=False).items() if cls == "TTree"
                     for n in f[k].keys()}
        finally:
            f.close()
        return any(f"{c}_{field}" in names for c, fields in SCHEMA.items() for field in fields)

    def endJob(self):  # noqa: N802
        rep = {"events": self.events,
               "decoded": ", ".join(f"{lab} ({c.name}) -> {coll}" for lab, c, coll, _p in self.plan) or "nothing"}
        if self.passed:
            rep["passed through unchanged (stored without codec)"] = ", ".join(sorted(self.passed))
        self.context.report(self.label, rep)


@register_module
class PixelDigiVQDecoder(HepvqDecoder):
    """HepvqDecoder for one pixel_vq encoder label (``src``), put under instance "" (the older name).

    ``model``: decode with that model directory instead of the file's metadata (the encoder runs in the same
    job, so there is no input file holding the codec)."""

    codec_names = ("pixel_vq",)
    _SAME_JOB_INSTANCES = ("", "modules", "codes", "escapes", "farcols", "corrections", "crc")

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("src", cms.InputTag("pixelVQ"), "label of the encoder module whose products to decode")
        desc.add("model", cms.string(""), "model directory; empty: read the codec from the input file")

    def beginJob(self):  # noqa: N802
        if not self.params.model:
            return super().beginJob()
        from hepvq.pixel.codec import PixelVQCodec

        codec = self.context.run_options.apply(PixelVQCodec.from_directory(self.params.model,
                                                                           providers=self.context.providers))
        self.events, self.passed, self._plans, self._plan_file = 0, set(), {}, None
        self.plan = [(self.src_label, codec, codec.collection, {i: i for i in self._SAME_JOB_INSTANCES})]

    def produce(self, chunk):
        if self.params.model:  # same-job products: no file to switch codecs on
            chunk = _SameFile(chunk)
        super().produce(chunk)

    def _products(self, chunk, label, prefixes) -> dict:
        products = {inst: chunk.get((label, inst)) for inst in prefixes if chunk.has((label, inst))}
        if "" not in products:
            chunk.get((label, ""))  # raises ProductNotFound naming what exists
        return products


class _SameFile:
    """A chunk seen without its source file (products made in this job by a model given to the decoder)."""

    def __init__(self, chunk):
        self._chunk = chunk
        self.source_file = None

    def __getattr__(self, name):
        return getattr(self._chunk, name)


@register_module
class TpcInrDecoder(HepvqDecoder):
    """HepvqDecoder for one tpc_inr encoder label (``src``), put under instance "" (the older name; numpy +
    onnxruntime, no torch).  Each input file decodes with its own tpc_inr model."""

    codec_names = ("tpc_inr",)

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("src", cms.InputTag("tpcInr"), "label of the TpcInrEncoder whose products to decode")
