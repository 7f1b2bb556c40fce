"""The benchmark behind docs/BENCHMARKS.md: every detector, the same folds, the same audits.

For every registered detector (whose optional packages are installed):

- leave-one-source-out under matched processing (the default-selection criterion),
  with the "paired" training recipe and, for comparison, the "all sources" one;
- leave-one-source-out on the files as they are;
- leave-generators-out (grouped folds; real images grouped by source), on the
  files as they are and under matched processing;
- the shortcut audit under each of those protocols;
- when named with ``--protocols``: ``loso-matched-modern`` (the LOSO-matched folds scored on real images
  and the fakes of generators released 2023 or later only) and ``aligned-only`` /
  ``aligned-only-matched`` (trained on real images and their autoencoder counterparts only, tested on
  every collected generator; ``evaluation.aligned_only``).

Networks trained end to end run the matched-processing protocols only, at full
size on a GPU and at reduced size on a CPU. ``--part`` writes some detectors'
runs on one machine (a GPU) to be merged into the page made on another. The
default is then chosen among single detectors and score fusions of pairs, and
the scan throughput and memory of the shipped default detector are measured.

Modules: ``plan`` (the protocols and which runs each detector gets), ``run`` (running them,
merging parts), ``choose`` (the default), ``render`` (the Markdown page and the SVG plot),
``throughput`` (scan speed and memory), ``evidence`` (a trained detector's results for its card).
"""

from .choose import select
from .evidence import card_evidence
from .plan import MATCHED, PROTOCOLS
from .render import write_page
from .run import localization_benchmark, merge_parts, refresh_throughput, rerender, run_benchmark
from .throughput import measure_throughput

__all__ = ["MATCHED", "PROTOCOLS", "card_evidence", "localization_benchmark", "measure_throughput", "merge_parts",
           "refresh_throughput", "rerender", "run_benchmark", "select", "write_page"]
