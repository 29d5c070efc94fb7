"""Exported networks: vad-export (OpenMMLab model -> ONNX + metadata) and the ONNX Runtime backends that run them
without torch or mmcv."""
