"""The built-in saliency methods: importing this package registers each one (one module each).

To add a method, add its module here (see explainers/core/README.md).
"""

from explainers.core.methods import (  # noqa: F401  (imported to register)
    ablationcam,
    activation_map,
    attention,
    cam,
    decam,
    gradcam,
    gradcampp,
    gradient,
    guided_backprop,
    integrated_gradients,
    kernelshap,
    lime,
    occlusion,
    rise,
    scorecam,
    smoothgrad,
    vargrad,
    xgradcam,
)
