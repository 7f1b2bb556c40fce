"""Analyses of the data and of the detectors, each written as plots, an HTML page and a section of
``docs/ANALYSIS.md``.

- :mod:`.spectrum`: mean DCT and Fourier spectra per class, generator and real source, azimuthal
  averages, periodic peaks and distances between generators (``fakescope spectrum``).
- :mod:`.prompts`: which prompts make generated images hard to catch (``fakescope prompts``).

Shared below them: :mod:`.plotting` (one colour-blind-safe look for every plot; matplotlib is the
optional extra ``plots``), :mod:`.markdown` (tables and the sections of ``docs/ANALYSIS.md``),
:mod:`.stats` (Wilson intervals) and :mod:`.page` (the self-contained HTML page).
Nothing here is imported by scanning or training.
"""
