"""Features: image -> array functions (DCT spectrum, CLIP and MiniLM embeddings, faces) and views.

Not all pure: the CLIP, MiniLM and face models hold ONNX / LiteRT sessions loaded
once from the weight cache. Batch extraction over a manifest and the sqlite
feature cache live one layer up, in ``fakescope.extraction``.
"""
