"""Scan engines beyond one process on one CPU.

- :mod:`~fakescope.engines.gpu`: the default detector on a GPU (JPEGs decoded there, the CLIP
  encoder in half precision, batched; the detector's heads unchanged).
- :mod:`~fakescope.engines.ray_data`: ``fakescope scan --engine ray`` on a Ray cluster (Ray Data:
  decoding in tasks, scoring in an actor pool), writing the same rows as the local scan.

Both write rows through :mod:`fakescope.scanning`, so outputs, resuming and error rows are shared.
"""
