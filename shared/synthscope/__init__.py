"""Synthscope core: audio in, calibrated AI-probability timeline out."""

__version__ = "0.1.0"
