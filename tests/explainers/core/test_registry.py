"""The registries of methods and metrics, option validation and resolved parameters."""

from __future__ import annotations

import hashlib
import json

import pytest

from explainers import core
from explainers.core.methods.base import Explainer
from explainers.core.registry import FAMILIES, RESOLUTIONS, SCORES, MethodSpec

#: METHODS.md: family, resolution and default score of each method of this issue.
EXPECTED = {
    "gradient": ("backprop", "input", "logit", False),
    "guided_backprop": ("backprop", "input", "logit", False),
    "integrated_gradients": ("backprop", "input", "logit", False),
    "smoothgrad": ("backprop", "input", "logit", True),
    "vargrad": ("backprop", "input", "logit", True),
    "cam": ("cam", "feature", "logit", False),
    "activation_map": ("cam", "feature", "logit", False),
    "gradcam": ("cam", "feature", "logit", False),
    "gradcampp": ("cam", "feature", "logit", False),
    "xgradcam": ("cam", "feature", "logit", False),
    "scorecam": ("cam", "feature", "probability", False),
    "ablationcam": ("cam", "feature", "logit", False),
}
DIRECTION = {
    "dauc": False,
    "iauc": True,
    "dc": True,
    "ic": True,
    "iic": True,
    "ad": False,
    "add": True,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_methods_of_this_issue_are_registered_as_methods_md_says(name):
    spec = core.METHODS[name]
    assert (spec.family, spec.resolution, spec.score, spec.stochastic) == EXPECTED[name]
    if "score" in spec.defaults:
        assert spec.defaults["score"] == spec.score


@pytest.mark.parametrize("name", sorted(core.METHODS))
def test_every_method_entry_is_complete(name):
    spec = core.METHODS[name]
    assert isinstance(spec, MethodSpec) and spec.name == name
    assert spec.description and spec.citation
    assert spec.family in FAMILIES and spec.resolution in RESOLUTIONS and spec.score in SCORES
    assert isinstance(spec.stochastic, bool) and isinstance(spec.defaults, dict)
    assert spec.resolve({}) == spec.defaults, "defaults must pass their own validation"
    assert spec.implementation is not None and issubclass(spec.implementation, Explainer)


def test_metrics_are_registered_with_their_direction():
    assert set(DIRECTION) <= set(core.METRICS)
    for name, higher in DIRECTION.items():
        spec = core.METRICS[name]
        assert spec.higher_is_better is higher and spec.description and spec.citation
        assert spec.defaults["score"] == "probability"
        assert spec.resolve({}) == spec.defaults
    assert core.METRICS["dauc"].defaults["max_steps"] == 196
    assert core.METRICS["iauc"].defaults["baseline"] == "blur"
    assert core.METRICS["dauc"].defaults["baseline"] == "zero"


def test_documented_defaults():
    assert core.METHODS["integrated_gradients"].defaults["n_steps"] == 50
    assert core.METHODS["integrated_gradients"].defaults["baseline"] == "black"
    for name in ("smoothgrad", "vargrad"):
        assert core.METHODS[name].defaults["n_samples"] == 50
        assert core.METHODS[name].defaults["noise_level"] == 0.15
    assert core.METHODS["scorecam"].defaults["weights"] == "softmax"
    assert core.METHODS["cam"].defaults["relu"] is False
    assert core.METHODS["gradcam"].defaults["relu"] is True


def test_resolve_parameters_fills_defaults_adds_the_seed_and_leaves_out_batch_size():
    resolved = core.resolve_parameters("smoothgrad", n_samples=20, noise_level=1, batch_size=4)
    assert resolved == {"n_samples": 20, "noise_level": 1.0, "score": "logit", "seed": 0}
    assert isinstance(resolved["noise_level"], float)
    assert "batch_size" not in resolved
    text = json.dumps(resolved, sort_keys=True)
    assert hashlib.sha256(text.encode()).hexdigest()  # JSON-serialisable, hashable
    assert core.resolve_parameters("gradcam", seed=3)["seed"] == 3


def test_resolved_parameters_can_be_passed_back_to_explain(tiny, tiny_images):
    x = tiny_images(2, 16)
    parameters = core.resolve_parameters("smoothgrad", n_samples=3)
    maps = core.explain(tiny, x, "smoothgrad", targets=[0, 1], **parameters)
    assert maps.shape == (2, 16, 16)
    assert core.resolve_metric_parameters("dauc") == {
        k: v for k, v in core.METRICS["dauc"].defaults.items() if k != "batch_size"
    }


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"n_sample": 3}, "n_sample"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 2.5}, "n_samples"),
        ({"n_samples": True}, "n_samples"),
        ({"noise_level": "high"}, "noise_level"),
        ({"noise_level": float("nan")}, "noise_level"),
        ({"score": "logits"}, "score"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_options_name_the_option(options, argument):
    with pytest.raises(core.ExplainerInputError) as error:
        core.resolve_parameters("smoothgrad", **options)
    assert error.value.argument == argument
    assert str(error.value).startswith(f"{argument}:")


def test_unknown_names():
    with pytest.raises(core.ExplainerInputError, match=r"^method: unknown method 'gradcam2'"):
        core.resolve_parameters("gradcam2")
    with pytest.raises(core.ExplainerInputError, match=r"^metric:"):
        core.resolve_metric_parameters("auc")
    with pytest.raises(core.ExplainerInputError, match=r"^seed:"):
        core.resolve_parameters("gradient", seed=-1)


def test_provenance_records_parameters_and_versions():
    record = core.provenance("integrated_gradients", n_steps=10)
    assert record["kind"] == "method" and record["parameters"]["n_steps"] == 10
    assert {"torch", "numpy", "python", "explainers.core"} <= set(record["versions"])
    assert core.provenance("iic")["kind"] == "metric"
    assert core.describe(core.METHODS["gradcam"])["family"] == "cam"


def test_a_name_cannot_be_registered_twice():
    class Again(Explainer):
        name = "gradient"
        description = "x"
        citation = "y"
        family = "backprop"
        resolution = "input"

        def attribute(self, classifier, x, targets, *, seed, options):  # pragma: no cover
            raise NotImplementedError

    with pytest.raises(ValueError, match="already registered"):
        core.register_method(Again)


def test_a_metric_is_titled_by_its_description_and_must_start_with_the_title():
    assert core.METRICS["dauc"].title == "Deletion AUC"
    assert core.METRICS["iic"].title == "Increase in confidence"

    class Untitled(core.METRICS["ad"].implementation):  # type: ignore[misc,name-defined]
        name = "untitled_metric"
        description = "relative drop of the class score"

    with pytest.raises(ValueError, match="starts with its title and a colon"):
        core.register_metric(Untitled)
    assert "untitled_metric" not in core.METRICS
