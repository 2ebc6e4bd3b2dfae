"""Physics validation of compressed pile-up by premixing (hepvq-validate premix; docs/validation.md).

mixing (signal + pile-up DIGIs in charge), reco (clusters, CPE, signal crossings), premix (the study and its
criteria), report (summary.json, plots, report.md). The clusterer, CPE and statistics live in hepvq.metrics.
"""
