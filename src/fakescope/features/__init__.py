"""Feature extractors: pure functions of an RGB image (and, for CLIP, a model)."""
