"""Features of a whole manifest: views (clean, augmented, matched), batch extraction and the feature cache.

This layer sits above both ``features`` (the image -> array functions) and ``data``
(manifests and perturbations), and below the detectors that train on its arrays.
"""

from .batch import apply_view, extract
from .cache import FeatureCache, export_features, import_features

__all__ = ["FeatureCache", "apply_view", "export_features", "extract", "import_features"]
