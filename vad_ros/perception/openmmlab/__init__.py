"""The OpenMMLab backends: MMDetection / MMSegmentation models on torch, run in stages with checked load-time
variants."""
