"""Datasets: manifests, importers, splits and perturbations."""

from .manifest import LABELS, Manifest, ManifestError, Sample, import_folder_tree

__all__ = ["LABELS", "Manifest", "ManifestError", "Sample", "import_folder_tree"]
