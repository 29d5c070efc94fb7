"""The default detector: NanoDet as a TF.js graph, run by ONNX Runtime on an ONNX file made from it or by the
package's torch executor."""
