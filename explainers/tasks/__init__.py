"""Celery tasks of the explainers app: ``gpu`` (saliency work, gpu queue), ``jobs`` and ``render``
(both on the default, CPU queue)."""

from explainers.tasks import gpu, jobs, render

__all__ = ["gpu", "jobs", "render"]
