"""The contract every registered method keeps (METHODS.md, shared conventions).

Run over every entry of ``METHODS`` on a tiny network (fast), and once on the real
EfficientNet-Lite0: shape and dtype, finite values, determinism with a seed, independence of the
batch composition and of ``batch_size``, default targets = top-1, no hook left, model parameters,
``requires_grad`` flags and training flags unchanged.
"""

from __future__ import annotations

import contextlib

import pytest
import torch

from explainers import core
from explainers.core.attention import has_attention
from explainers.core.errors import ExplainerInputError
from explainers.core.hooks import count_hooks

METHODS = sorted(core.METHODS)
#: Smaller sample counts where a method has such an option: the contract does not depend on them.
LIGHT_VALUES = {
    "n_steps": 6,
    "n_samples": 5,
    "n_masks": 64,
    "population": 8,
    "generations": 3,
    "window": 4,  # occlusion: the default 32-pixel patch does not fit TinyNet's 16² input
    "stride": 4,
}


def light(method: str) -> dict[str, object]:
    spec = core.METHODS[method]
    options = {}
    for name, value in LIGHT_VALUES.items():
        if name in spec.options:
            with contextlib.suppress(ExplainerInputError):  # keep the default if out of range
                options[name] = spec.options[name].validate(name, value)
    return options


def applicable(method: str, clf: core.Classifier, x: torch.Tensor) -> dict[str, object]:
    """The light options of ``method``; skip only on an explicit capability check.

    The one method that needs a capability the model may lack is the attention family, which
    needs a model exposing ``attention_maps``. Any other ``ExplainerInputError`` is a failure:
    a method that broke for every model must not pass as "does not apply".
    """
    spec = core.METHODS[method]
    if spec.family == "attention" and not has_attention(clf):
        pytest.skip(f"{method} needs attention maps; {clf.name} has no attention_maps")
    options = light(method)
    assert spec.implementation is not None
    spec.implementation().check(clf, clf.prepare(x), spec.resolve(options))
    return options


def check_shape(maps: torch.Tensor, clf: core.Classifier, method: str, x: torch.Tensor) -> None:
    """N×H×W at input resolution; the target layer's h×w for the CAM family; any N×h×w for
    other feature-resolution methods (e.g. a perturbation grid)."""
    spec = core.METHODS[method]
    assert maps.dim() == 3 and maps.shape[0] == x.shape[0], tuple(maps.shape)
    if spec.resolution == "input":
        assert tuple(maps.shape[1:]) == tuple(x.shape[2:])
    elif spec.family == "cam":
        assert clf.feature_shape is not None
        assert tuple(maps.shape[1:]) == tuple(clf.feature_shape[1:])


def snapshot(module: torch.nn.Module) -> dict[str, object]:
    return {
        "state": {k: v.clone() for k, v in module.state_dict().items()},
        "grad": [p.requires_grad for p in module.parameters()],
        "training": [m.training for m in module.modules()],
    }


def assert_unchanged(module: torch.nn.Module, before: dict[str, object]) -> None:
    after = snapshot(module)
    assert after["grad"] == before["grad"]
    assert after["training"] == before["training"]
    state_before = before["state"]
    assert isinstance(state_before, dict)
    for key, value in after["state"].items():  # type: ignore[union-attr]
        assert torch.equal(value, state_before[key]), key
    assert count_hooks(module) == 0


@pytest.mark.parametrize("method", METHODS)
def test_contract_on_a_tiny_network(method, tiny_net, tiny_images):
    net = tiny_net()
    net.train()  # the user's module may be in training mode: it must stay so, untouched
    net.fc.weight.requires_grad_(False)  # and keep its mixed requires_grad flags
    clf = core.Classifier(net, target_layer="features", input_size=16, device="cpu")
    user_before, copy_before = snapshot(net), snapshot(clf.network)
    x = tiny_images(4, 16, seed=3)
    options = applicable(method, clf, x)
    targets = [0, 3, 1, 4]

    maps = core.explain(clf, x, method, targets=targets, seed=7, **options)
    check_shape(maps, clf, method, x)
    assert maps.dtype == torch.float32 and maps.device.type == "cpu"
    assert torch.isfinite(maps).all()
    assert maps.abs().sum() > 0, "an all-zero map for every image"

    again = core.explain(clf, x, method, targets=targets, seed=7, **options)
    assert torch.equal(maps, again), "same seed, same input, same model → same map"

    scale = float(maps.abs().max())
    shuffled = core.explain(clf, x[[2, 0, 3, 1]], method, targets=[1, 0, 4, 3], seed=7, **options)
    torch.testing.assert_close(shuffled, maps[[2, 0, 3, 1]], rtol=1e-4, atol=1e-5 * scale)
    alone = core.explain(clf, x[1:2], method, targets=[3], seed=7, **options)
    torch.testing.assert_close(alone, maps[1:2], rtol=1e-4, atol=1e-5 * scale)
    one_by_one = core.explain(clf, x, method, targets=targets, seed=7, batch_size=1, **options)
    torch.testing.assert_close(one_by_one, maps, rtol=1e-4, atol=1e-5 * scale)

    assert_unchanged(net, user_before)
    assert_unchanged(clf.network, copy_before)
    assert net.training and not net.fc.weight.requires_grad


@pytest.mark.parametrize("method", METHODS)
def test_default_targets_are_the_top1_class(method, tiny, tiny_images):
    x = tiny_images(3, 16, seed=5)
    top1 = tiny.predict(x).tolist()
    options = applicable(method, tiny, x)
    torch.testing.assert_close(
        core.explain(tiny, x, method, **options),
        core.explain(tiny, x, method, targets=top1, **options),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("method", [m for m in METHODS if core.METHODS[m].stochastic])
def test_stochastic_methods_depend_on_the_seed_only(method, tiny, tiny_images):
    x = tiny_images(2, 16, seed=2)
    options = applicable(method, tiny, x)
    first = core.explain(tiny, x, method, targets=[0, 1], seed=1, **options)
    second = core.explain(tiny, x, method, targets=[0, 1], seed=2, **options)
    assert not torch.allclose(first, second)


@pytest.mark.parametrize(
    "method",
    [m for m in METHODS if core.METHODS[m].family in ("backprop", "cam") and m != "activation_map"],
)
def test_maps_depend_on_the_target_class(method, tiny, tiny_images):
    x = tiny_images(2, 16, seed=4)
    options = applicable(method, tiny, x)
    first = core.explain(tiny, x, method, targets=0, **options)
    second = core.explain(tiny, x, method, targets=2, **options)
    assert not torch.allclose(first, second)


@pytest.mark.slow
def test_contract_on_the_real_model(lite0, photos):
    """Every backpropagation and CAM method on one real photo of EfficientNet-Lite0: shape,
    finite, deterministic, nothing left on the model (the perturbation family tests its own)."""
    x = photos[:1]
    before_user, before_copy = snapshot(lite0.module), snapshot(lite0.network)
    for method in [m for m in METHODS if core.METHODS[m].family in ("backprop", "cam")]:
        options = light(method)
        maps = core.explain(lite0, x, method, seed=3, **options)
        check_shape(maps, lite0, method, x)
        assert torch.isfinite(maps).all() and maps.abs().sum() > 0, method
        if method in ("gradient", "smoothgrad", "gradcam"):  # the rest: on TinyNet above
            assert torch.equal(maps, core.explain(lite0, x, method, seed=3, **options)), method
    assert_unchanged(lite0.module, before_user)
    assert_unchanged(lite0.network, before_copy)


def test_a_method_that_rejects_every_model_fails_instead_of_skipping(
    tiny, tiny_images, monkeypatch
):
    spec = core.METHODS["gradcam"]
    assert spec.implementation is not None

    def broken(self, *args, **kwargs):
        raise ExplainerInputError("method", "broken for every model")

    monkeypatch.setattr(spec.implementation, "check", broken)
    with pytest.raises(ExplainerInputError):
        applicable("gradcam", tiny, tiny_images(2, 16, seed=1))
