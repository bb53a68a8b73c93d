"""Deployment: export a policy's single-frame step to ONNX (fp32, INT8, INT4), run it
with onnxruntime on one thread, and play Melee through libmelee.

Importing ``workbench.deploy`` does not import onnx or onnxruntime; the functions that
need them do, with a one-line error when they are missing.
"""
