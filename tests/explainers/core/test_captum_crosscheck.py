"""Cross-checks against Captum on the real EfficientNet-Lite0 and real photos.

Captum is given the same module, inputs and targets and its maps are reduced by the documented
channel reduction (``max_c |·|`` for gradient, guided backprop, SmoothGrad and VarGrad,
``|Σ_c ·|`` for integrated gradients; Grad-CAM needs none).

Tolerances. Against a classifier without execution-copy rewrites (``optimize_network=False``)
the engine runs the same operations as Captum, possibly in another order: agreement to float32
rounding, ``|Δ| ≤ 1e-5 · max|map|`` (measured: 0 to 2e-7). With the rewrites (batch norm folded,
padding folded, in-place ReLU6) the logits agree to ~1e-6 relative, but a ReLU6 unit whose input
sits within rounding of 0 or 6 may switch gate, which moves individual input-gradient pixels:
the maps agree to 2 % in relative L2 norm (measured: 0.2–0.7 %) and Grad-CAM, whose gradient
does not cross any ReLU6, to 1e-5.
"""

from __future__ import annotations

import copy

import pytest
import torch
from captum.attr import GuidedBackprop, IntegratedGradients, LayerGradCam, NoiseTunnel, Saliency

from explainers import core

pytestmark = pytest.mark.slow


class ReLU6AsReLU(torch.nn.ReLU):
    """ReLU6 typed as ``nn.ReLU``: Captum's guided backprop only rewrites ``nn.ReLU`` modules,
    so without this it would silently compute the plain gradient of EfficientNet-Lite0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.relu6(x)


def swap_relu6(module: torch.nn.Module) -> torch.nn.Module:
    for name, child in module.named_children():
        if type(child) is torch.nn.ReLU6:
            setattr(module, name, ReLU6AsReLU())
        else:
            swap_relu6(child)
    return module


@pytest.fixture(scope="module")
def plain(lite0: core.Classifier) -> core.Classifier:
    """EfficientNet-Lite0 without the execution-copy rewrites."""
    return core.Classifier(
        copy.deepcopy(lite0.module),
        target_layer="head",
        mean=lite0.mean,
        std=lite0.std,
        device="cpu",
        optimize_network=False,
    )


@pytest.fixture(scope="module")
def model(lite0: core.Classifier) -> torch.nn.Module:
    """The user's module as Captum gets it."""
    return copy.deepcopy(lite0.module).eval()


@pytest.fixture(scope="module")
def case(photos: torch.Tensor, lite0: core.Classifier) -> tuple[torch.Tensor, list[int]]:
    x = photos[:2]
    return x, lite0.predict(x).tolist()


def assert_same(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    theirs = theirs.detach().float()
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5 * float(theirs.abs().max()))


def assert_close_l2(ours: torch.Tensor, theirs: torch.Tensor, relative: float = 2e-2) -> None:
    theirs = theirs.detach().float()
    error = float((ours - theirs).norm() / theirs.norm())
    assert error < relative, error


def test_gradient(plain, lite0, model, case):
    x, targets = case
    theirs = Saliency(model).attribute(x.clone(), target=targets, abs=True).amax(dim=1)
    assert_same(core.explain(plain, x, "gradient", targets=targets), theirs)
    assert_close_l2(core.explain(lite0, x, "gradient", targets=targets), theirs)


def test_guided_backprop(plain, lite0, model, case):
    x, targets = case
    guided = swap_relu6(copy.deepcopy(model))
    theirs = GuidedBackprop(guided).attribute(x.clone(), target=targets).abs().amax(dim=1)
    assert_same(core.explain(plain, x, "guided_backprop", targets=targets), theirs)
    assert_close_l2(core.explain(lite0, x, "guided_backprop", targets=targets), theirs)
    plain_gradient = core.explain(plain, x, "gradient", targets=targets)
    assert not torch.allclose(plain_gradient, theirs), "guided backprop must differ from gradient"


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_trapezoid"])
def test_integrated_gradients(plain, lite0, model, case, rule):
    """Same baseline (black pixels), nodes and weights as Captum.

    Captum's ``riemann_trapezoid`` puts n nodes 1/(n−1) apart but weights them 1/n (ends
    halved), so its weights sum to 1 − 1/n and its attributions are (n−1)/n of the trapezoid
    rule's: rescaled here. Captum evaluates all the interpolated images in one batch, the engine in
    batches of at most ``batch_size``; batch composition changes float32
    rounding, which can switch a ReLU6 gate at a few interpolation points, hence the L2 check.
    """
    x, targets = case[0][:1], case[1][:1]
    n = 10
    black = lite0.pixel_value(0.0)
    assert black is not None
    baselines = black.view(1, 3, 1, 1).expand_as(x).contiguous()
    theirs = (
        IntegratedGradients(model)
        .attribute(x.clone(), baselines=baselines, target=targets, n_steps=n, method=rule)
        .sum(dim=1)
        .abs()
    )
    if rule == "riemann_trapezoid":
        theirs = theirs * n / (n - 1)
    options = {"n_steps": n, "quadrature": rule}
    assert_close_l2(
        core.explain(plain, x, "integrated_gradients", targets=targets, **options), theirs, 1e-2
    )
    assert_close_l2(
        core.explain(lite0, x, "integrated_gradients", targets=targets, **options), theirs
    )
    other = "riemann_middle" if rule == "gausslegendre" else "gausslegendre"
    different = core.explain(
        plain, x, "integrated_gradients", targets=targets, n_steps=n, quadrature=other
    )
    with pytest.raises(AssertionError):
        assert_close_l2(different, theirs)


@pytest.mark.parametrize(
    ("method", "nt_type"), [("smoothgrad", "smoothgrad"), ("vargrad", "vargrad")]
)
def test_noise_tunnel_with_the_same_noise(plain, model, case, monkeypatch, method, nt_type):
    """The engine's noise is replaced by Captum's own draw, so both average the same copies."""
    x, targets = (case[0][:1], case[1][:1])
    n = 6
    sigma = 0.15 * float(x.max() - x.min())
    torch.manual_seed(1234)
    drawn = torch.normal(0, torch.tensor(sigma).repeat((n, *x.shape[1:])))
    from explainers.core.methods import noise

    monkeypatch.setattr(noise, "unit_noise", lambda seed, sample, shape: drawn[sample] / sigma)
    torch.manual_seed(1234)
    theirs = NoiseTunnel(Saliency(model)).attribute(
        x.clone(),
        nt_type=nt_type,
        nt_samples=n,
        nt_samples_batch_size=n,
        stdevs=sigma,
        target=targets,
        abs=method == "smoothgrad",
    )
    ours = core.explain(plain, x, method, targets=targets, n_samples=n)
    theirs = theirs.amax(dim=1).detach()
    # x + σ·(ε/σ) differs from x + ε by one rounding: agreement to 1e-4 of the largest value.
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4 * float(theirs.abs().max()))


def test_gradcam(plain, lite0, model, case):
    x, targets = case
    theirs = LayerGradCam(model, model.head).attribute(
        x.clone(), target=targets, relu_attributions=True
    )[:, 0]
    assert_same(core.explain(plain, x, "gradcam", targets=targets), theirs)
    assert_same(core.explain(lite0, x, "gradcam", targets=targets), theirs)
