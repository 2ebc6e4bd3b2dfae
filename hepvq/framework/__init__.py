"""The framework: module base classes, registry, Chunk, JobContext, event loop, TimeReport.

Write a module (see docs/ARCHITECTURE.md)::

    from hepvq.framework import EDProducer, register_module

    @register_module
    class MyProducer(EDProducer):
        \"\"\"One line for --list-modules.\"\"\"
        @classmethod
        def fillDescriptions(cls, desc): desc.add("src", cms.InputTag("PixelDigi"), "input")
        def produce(self, chunk): chunk.put(ak.num(chunk.get(self.params.src)))

The event loop (EventProcessor) builds modules from a hepvq.config Process; it imports hepvq.config
lazily so that this package stays importable on its own."""
from hepvq.framework.chunk import Chunk, tag_key
from hepvq.framework.context import JobContext
from hepvq.framework.module import EDAnalyzer, EDFilter, EDProducer, Module, OutputModule, Source
from hepvq.framework.registry import load_plugins, module_class, register_module, registered_modules
from hepvq.framework.report import TimeReport

__all__ = ["Chunk", "JobContext", "Module", "EDProducer", "EDFilter", "EDAnalyzer", "Source", "OutputModule",
           "register_module", "module_class", "registered_modules", "load_plugins", "TimeReport", "EventProcessor",
           "run_process", "tag_key"]


def __getattr__(name):
    if name in ("EventProcessor", "run_process"):
        from hepvq.framework import processor

        return getattr(processor, name)
    raise AttributeError(f"module 'hepvq.framework' has no attribute '{name}'")
