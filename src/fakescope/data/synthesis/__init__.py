"""Synthesis of manipulated images with exact masks (1 = manipulated), from real images alone."""

from .local import Edit, blob_mask, copy_move, inpaint, splice
from .sbi import SBIConfig, SBIResult, face_hull_mask, self_blend, self_blend_faces

__all__ = ["Edit", "SBIConfig", "SBIResult", "blob_mask", "copy_move", "face_hull_mask", "inpaint",
           "self_blend", "self_blend_faces", "splice"]  # fmt: skip
