"""The built-in faithfulness metrics: importing this package registers each one."""

from explainers.core.metrics import multi_step, single_step  # noqa: F401  (imported to register)
