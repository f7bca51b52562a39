"""Fusion: a causal motion model conditioned on EMG and IMU, and its evaluation.

``frames`` and ``data`` need numpy only; ``tokens``, ``encoder``, ``model``, ``train``
and ``predict`` need torch (``pip install -e ".[fusion]"``). This package is the only
place wearsense imports torch.
"""
