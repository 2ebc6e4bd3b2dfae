"""The cfg language: ``import hepvq.config as cms`` (CMSSW's FWCore.ParameterSet.Config in small).

types.py       typed parameters (cms.int32, cms.InputTag, cms.PSet, cms.untracked.*)
modules.py     module configs (cms.Source, cms.EDProducer, cms.EDFilter, cms.EDAnalyzer, cms.OutputModule)
sequences.py   cms.Path, cms.EndPath, cms.Sequence, cms.Task, cms.Schedule
process.py     cms.Process, cms.Modifier
dump.py        process.dumpPython()
description.py cms.ParameterSetDescription (a module type's schema) and Params (checked values)
loading.py     cms.load_cfg(path), cms.apply_override(process, "label.param", "text")
"""
from .description import ParameterSetDescription, Params
from .loading import apply_override, load_cfg
from .modules import EDAnalyzer, EDFilter, EDProducer, OutputModule, Source
from .process import Modifier, ModifierChain, Process
from .sequences import EndPath, Path, Schedule, Sequence, Task
from .types import Bool as bool  # noqa: A001 - the cfg names shadow builtins on purpose, as in CMSSW
from .types import Double as double
from .types import FileInPath, InputTag, PSet, VInputTag, VPSet
from .types import Int32 as int32
from .types import Int64 as int64
from .types import String as string
from .types import UInt32 as uint32
from .types import UInt64 as uint64
from .types import VDouble as vdouble
from .types import VInt32 as vint32
from .types import VInt64 as vint64
from .types import VString as vstring
from .types import VUInt32 as vuint32
from .types import VUInt64 as vuint64
from .types import untracked

__all__ = [
    "int32", "uint32", "int64", "uint64", "double", "bool", "string", "vstring", "vint32", "vuint32", "vint64",
    "vuint64", "vdouble", "InputTag", "VInputTag", "FileInPath", "PSet", "VPSet", "untracked",
    "Source", "EDProducer", "EDFilter", "EDAnalyzer", "OutputModule",
    "Path", "EndPath", "Sequence", "Task", "Schedule", "Process", "Modifier", "ModifierChain",
    "ParameterSetDescription", "Params", "load_cfg", "apply_override",
]
