"""HepvqDecoder: decode every codec declared in the compressed input file (pixel_vq, pixel_sparse, tpc_inr...)
back to collections in the input schema, with nothing but the file (its metadata holds the decoders)."""
from __future__ import annotations

import hepvq.config as cms
from hepvq.codecs.guard import decode_checked
from hepvq.errors import DataError, ModelError
from hepvq.framework import EDProducer, register_module
from hepvq.io.layout import SCHEMA


@register_module
class HepvqDecoder(EDProducer):
    """Decode the codecs declared in the input file's provenance back to their collections (PixelDigi, TpcHit...).

    ``collection="PixelDigi"``: decode the codec(s) of that collection and put the result under instance ""
    (so ``branchAliases = cms.untracked.PSet(<label>=cms.untracked.string("PixelDigi"))`` names the branches
    PixelDigi_*); a collection stored without codec (a plain DIGI file) is put unchanged, and nothing is put when
    the file holds neither.  ``collection=""``: decode every codec, each under instance = its collection name.
    Every decode verifies the per-event checksum and the decoded ranges (hepvq.codecs.guard); a file with no
    codec and no DIGI collection at all is refused (its hepvq metadata was probably stripped)."""

    @classmethod
    def fillDescriptions(cls, desc):  # noqa: N802
        desc.add("collection", cms.string(""),
                 "collection to decode (PixelDigi, TpcHit); empty: all, each under instance = collection")
        desc.add("required", cms.untracked.bool(False),
                 "fail when the input file has no codec for `collection` (default: put nothing)")

    def beginJob(self):  # noqa: N802
        files = list(getattr(self.context, "input_files", []) or [])
        if not files:
            raise ModelError(f"HepvqDecoder '{self.label}': the job has no input file to read codecs from")
        self.files = files
        self.events = 0
        self.passed: set[str] = set()
        self._plans = {}
        self.plan = self._plan_for(files[0])
        self._plan_file = files[0]

    def _plan_for(self, path):
        """[(encoder label, codec, collection, {instance: prefix})] of one input file: files compressed with
        different models decode with their own codecs."""
        from hepvq.io.reading import codecs_from_file

        if path in self._plans:
            return self._plans[path]
        codecs = codecs_from_file(path)  # blobs verified, undecodable codecs refused (naming the file)
        want = self.params.collection
        if not codecs and not self._has_plain_hits(path):
            raise DataError(f"HepvqDecoder '{self.label}': input file {path} declares no codec and holds no "
                            f"{' or '.join(SCHEMA)} collection: nothing to decompress (is its hepvq metadata "
                            "missing?)")
        plan = [(label, codec, coll, prefixes) for label, (codec, coll, prefixes) in codecs.items()
                if not want or coll == want]
        if want and len(plan) > 1:
            raise ModelError(f"HepvqDecoder '{self.label}': {len(plan)} codecs in {path} decode to "
                             f"'{want}' ({', '.join(p[0] for p in plan)}); cannot merge them")
        if want and not plan and self.params.required:
            have = sorted({c for (_cd, c, _p) in codecs.values()})
            raise ModelError(f"HepvqDecoder '{self.label}': input file {path} has no codec for collection "
                             f"'{want}' (has: {', '.join(have) or 'none'})")
        colls = [p[2] for p in plan]
        if len(set(colls)) != len(colls):
            raise ModelError(f"HepvqDecoder '{self.label}': several codecs in {path} decode to the same "
                             f"collection {colls}")
        self._plans[path] = plan
        return plan

    def produce(self, chunk):
        src = getattr(chunk, "source_file", None)
        if src and src != self._plan_file:
            plan = self._plan_for(src)
            if [(p[0], p[2]) for p in plan] != [(p[0], p[2]) for p in self.plan]:
                raise ModelError(f"HepvqDecoder '{self.label}': input file {src} declares codecs "
                                 f"{[(p[0], p[2]) for p in plan]} unlike the first file's "
                                 f"{[(p[0], p[2]) for p in self.plan]}")
            self.plan, self._plan_file = plan, src
        for label, codec, coll, prefixes in self.plan:
            products = {inst: chunk.get((label, inst)) for inst in prefixes}
            try:
                decoded = decode_checked(codec, products, file=src or self._plan_file, label=label,
                                         first_entry=getattr(chunk, "file_entry_start", chunk.entry_start))
            except DataError as err:
                raise DataError(f"HepvqDecoder '{self.label}': {err}") from err
            chunk.put(decoded, "" if self.params.collection else coll)
        # a collection stored plainly (a DIGI file, or one kept next to the products) passes through unchanged
        decoded = {p[2] for p in self.plan}
        wanted = [self.params.collection] if self.params.collection else [c for c in SCHEMA if c not in decoded]
        for coll in wanted:
            if coll not in decoded and chunk.has((coll, "")):
                chunk.put(chunk.get((coll, "")), "" if self.params.collection else coll)
                self.passed.add(coll)
        self.events += chunk.n

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
