"""Base classes of framework modules (the CMSSW plugin kinds).

A module is built by the EventProcessor from a validated parameter set::

    cls.fillDescriptions(desc)            # the schema, checked before any input is opened
    params = desc.validate(module_cfg)    # attribute access to plain python values
    module = cls(label, params, context)

and then sees the job through its lifecycle: ``beginJob()``, one call per chunk of events
(``produce`` / ``filter`` / ``analyze`` / ``write``), ``endJob()``. A chunk holds many events as
awkward arrays: never loop over hits in Python.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Iterator

import numpy as np


class Module(ABC):
    """Common part of every framework module: label, validated params, the JobContext."""

    #: kind shown by --list-modules: source, producer, filter, analyzer, output
    kind: ClassVar[str] = "module"

    def __init__(self, label: str, params, context):
        self.label = label
        self.params = params
        self.context = context

    @classmethod
    def fillDescriptions(cls, desc) -> None:  # noqa: N802 - CMSSW name
        """Declare the parameters (name, default, help) on a ParameterSetDescription."""

    @classmethod
    def describe_line(cls) -> str:
        """First line of the class docstring (what --list-modules shows)."""
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0].strip() if doc else ""

    def beginJob(self) -> None:  # noqa: N802
        """Called once before the first chunk (load models, declare metadata)."""

    def endJob(self) -> None:  # noqa: N802
        """Called once after the last chunk (add report lines with self.context.report)."""

    def __repr__(self):
        return f"<{type(self).__name__} '{self.label}'>"


class EDProducer(Module):
    """Reads products with chunk.get(tag) and adds its own with chunk.put(array, instance)."""

    kind = "producer"

    @abstractmethod
    def produce(self, chunk) -> None:
        """Implemented by every concrete module of this kind."""


class EDFilter(Module):
    """Returns one bool per event; a path stops accepting an event when a filter on it says False.

    A filter may also put products (like a producer)."""

    kind = "filter"

    @abstractmethod
    def filter(self, chunk) -> np.ndarray:
        """Implemented by every concrete module of this kind."""


class EDAnalyzer(Module):
    """Reads products, fills histograms / summaries; puts nothing."""

    kind = "analyzer"

    @abstractmethod
    def analyze(self, chunk) -> None:
        """Implemented by every concrete module of this kind."""


class Source(Module):
    """Makes the chunks. ``beginJob`` opens and checks every input (before any output is created).

    ``chunks(chunk_size, max_events)`` yields :class:`hepvq.framework.Chunk` objects with ids and
    source products filled in; ``num_events`` (events that will be read, or None when unknown) and
    ``input_bytes`` (sum of input file sizes) feed the progress bar and the TimeReport; ``read_bytes`` is
    what was actually read (compressed bytes of the branches consumed), None for sources that read no file."""

    kind = "source"
    num_events: int | None = None
    input_bytes: int = 0
    read_bytes: int | None = None
    read_what: str = ""

    @abstractmethod
    def chunks(self, chunk_size: int, max_events: int = -1) -> Iterator:
        """Implemented by every concrete module of this kind."""

    def empty_chunk(self):
        """A chunk of 0 events with every product the source puts, typed as in a real chunk (or None).

        Run through the paths when a job reads no event, so that a 0-event output has the same branches
        and codec declarations as any other output."""
        return None

    def close(self) -> None:
        """Release resources (threads, handles); called after endJob and on errors. Idempotent."""


class OutputModule(Module):
    """Writes the selected events of each chunk.

    ``write(chunk)`` gets a chunk already reduced to the events selected by ``SelectEvents``;
    ``endJob`` completes the output under a temporary name; ``prepare_commit()`` raises when it can no
    longer be committed; ``commit()`` gives it its final name (called only once every output of the job has
    completed and is ready); ``abort()`` removes whatever was written (called on any error);
    ``output_bytes`` is the size of the completed output (for the TimeReport); ``file_name`` (if any) is
    checked at configuration time against the inputs and the other outputs."""

    kind = "output"
    output_bytes: int = 0
    events_written: int = 0

    @abstractmethod
    def write(self, chunk) -> None:
        """Implemented by every concrete module of this kind."""

    def prepare_commit(self) -> None:
        """Raise when the completed output cannot be committed (e.g. another job took its name)."""

    def commit(self) -> None:
        """Give the completed output its final name."""

    def abort(self) -> None:
        """Remove partial output; must be safe to call more than once and before beginJob."""

    def wants_label(self, label: str) -> bool:
        """Whether products of `label` may be written (unscheduled producers run on demand for them)."""
        return True

    @property
    def select_paths(self) -> list[str]:
        """Paths whose acceptance selects events for this output (empty: every event)."""
        return list(getattr(self.params, "SelectEvents", None) or [])


KINDS = {"source": Source, "producer": EDProducer, "filter": EDFilter, "analyzer": EDAnalyzer,
         "output": OutputModule}
