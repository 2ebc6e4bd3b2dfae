"""The measurement harness above the codecs: ``suite`` runs every compressor of the project and its peers
(hepvq.baselines) on the same samples with the same metrics (``hepvq-bench``); ``plots`` draws its figures.
Needs the ``bench`` extra (pysz, zfpy, scipy, matplotlib)."""
