"""Classifiers, image sets and precomputed saliency maps (Django app); ``core`` is pure PyTorch.

This package's ``__init__`` imports nothing so that ``explainers.core`` stays free of Django.
"""
