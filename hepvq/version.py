"""The version of hepvq, in one place: ``hepvq.__version__``, the provenance of every output file and
``--version`` read it; pyproject.toml's static version must equal it (tests/test_safety_outputs.py checks)."""
__version__ = "0.1.0"
