"""Synthesis of manipulated images with exact masks (1 = manipulated), from real images alone."""

from .sbi import SBIConfig, SBIResult, face_hull_mask, self_blend, self_blend_faces

__all__ = ["SBIConfig", "SBIResult", "face_hull_mask", "self_blend", "self_blend_faces"]
