"""Saliency maps and faithfulness metrics in pure PyTorch (no Django).

Public interface::

    from explainers import core

    clf = core.load_classifier("efficientnet_lite0")          # or core.Classifier(module, …)
    x = clf.preprocess([pil_image, …])                        # N×3×224×224 on clf.device
    maps = core.explain(clf, x, "gradcam", targets=None)      # N×h×w float32, CPU
    dauc = core.faithfulness(clf, x, maps, "dauc")            # N values, NaN where undefined
    core.METHODS["gradcam"].defaults, core.METRICS["dauc"].citation
    core.resolve_parameters("smoothgrad", n_samples=20)       # what to store and hash
    curve = core.sanity_check(clf, x, "gradient")              # cascading randomisation
    png = render.to_png(render.overlay(clf.view(img), maps[0]))  # explainers.core.render

Definitions and conventions: ../shared/METHODS.md and explainers/core/README.md.
"""

from explainers.core.api import explain, faithfulness
from explainers.core.classifier import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Classifier,
    ImagePreprocess,
    resolve_device,
    suggest_target_layer,
)
from explainers.core.errors import ExplainerInputError
from explainers.core.registry import (
    METHODS,
    METRICS,
    MethodSpec,
    MetricSpec,
    Option,
    describe,
    library_versions,
    provenance,
    register_method,
    register_metric,
    resolve_metric_parameters,
    resolve_parameters,
)
from explainers.core.sanity import SanityCurve, sanity_check
from explainers.core.zoo import ZOO, load_classifier

__version__ = "1.0.0"

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "METHODS",
    "METRICS",
    "ZOO",
    "Classifier",
    "ExplainerInputError",
    "ImagePreprocess",
    "MethodSpec",
    "MetricSpec",
    "Option",
    "SanityCurve",
    "__version__",
    "describe",
    "explain",
    "faithfulness",
    "library_versions",
    "load_classifier",
    "provenance",
    "register_method",
    "register_metric",
    "resolve_device",
    "resolve_metric_parameters",
    "resolve_parameters",
    "sanity_check",
    "suggest_target_layer",
]
