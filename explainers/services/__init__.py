"""Business logic of the explainers app: image import, classifiers, precompute jobs."""
