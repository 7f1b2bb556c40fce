"""Attributors: which family of generator made an image, and which generator, with ``unknown`` as an answer.

One family per file, as for detectors; each registers itself (kind ``attributor``) when imported:

- :mod:`.hierarchical`: family first, then the generator within it, on CLIP + DCT features; ``unknown``
  below a threshold fitted on generators held out inside the training data.

Their evaluation is :mod:`fakescope.evaluation.attribution`; the tables and plots it makes,
:mod:`fakescope.analysis.attribution_report`; the commands, ``fakescope attribute`` and
``fakescope scan --attributor``.
"""
