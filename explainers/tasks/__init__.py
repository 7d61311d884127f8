"""Celery tasks of the explainers app: ``gpu`` (saliency work, gpu queue) and ``jobs``."""

from explainers.tasks import gpu, jobs

__all__ = ["gpu", "jobs"]
