"""The CAM family against its formulas, computed by hand on tiny networks.

Two heads on the same convolutional features ``f = ReLU(conv(x))`` (K×4×4):

- ``GapHead``: ``y = W · mean_ij(f) + b``, so ``∂y_c/∂f^k_ij = W_ck / hw`` (spatially constant);
- ``DenseHead``: ``y = V · vec(f) + b``, so ``∂y_c/∂f^k_ij = V_c[k, i, j]`` (varies in space),
  and ablating channel k changes ``y_c`` by exactly ``Σ_ij V_c[k, i, j] f^k_ij``.

Every expected map is computed here from ``f``, ``W``/``V`` and the model's own outputs, with
loops and no code from the engine.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explainers import core

K, SIDE = 5, 8


class Features(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, K, 3, stride=2, padding=1)
        with torch.no_grad():  # channel 4 is constant (zero weights, positive bias)
            self.conv.weight[4] = 0
            self.conv.bias[4] = 0.5
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class GapHead(nn.Module):
    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.features = Features()
        self.fc = nn.Linear(K, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


class DenseHead(nn.Module):
    def __init__(self, classes: int = 3) -> None:
        super().__init__()
        self.features = Features()
        self.fc = nn.Linear(K * 16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


class DenseHeadFixedBatch(DenseHead):
    """Reshapes with the INPUT's batch size: the ablation shortcut cannot apply."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        return self.fc(self.features(x).reshape(batch, -1))


def classifier(module: nn.Module) -> core.Classifier:
    return core.Classifier(module.eval(), target_layer="features", input_size=SIDE, device="cpu")


@pytest.fixture
def x() -> torch.Tensor:
    return torch.randn(3, 3, SIDE, SIDE, generator=torch.Generator().manual_seed(11))


TARGETS = [0, 2, 1]


def features_of(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model.features(x).double().numpy()


def dense_gradients(model: DenseHead, c: int) -> np.ndarray:
    return model.fc.weight[c].detach().double().numpy().reshape(K, 4, 4)


def weighted(f: np.ndarray, alpha: np.ndarray, relu: bool) -> np.ndarray:
    cam = sum(alpha[k] * f[k] for k in range(K))
    return np.maximum(cam, 0) if relu else cam


def check(method: str, model: nn.Module, x: torch.Tensor, expected: list[np.ndarray], **options):
    maps = core.explain(classifier(model), x, method, targets=TARGETS, **options)
    np.testing.assert_allclose(maps.double().numpy(), np.stack(expected), rtol=1e-4, atol=1e-5)


def test_cam_is_the_linear_weights_on_the_feature_maps(x):
    model = GapHead()
    f = features_of(model, x)
    w = model.fc.weight.detach().double().numpy()
    check("cam", model, x, [weighted(f[n], w[c], relu=False) for n, c in enumerate(TARGETS)])


def test_cam_refuses_a_model_without_gap_and_linear_head(x):
    with pytest.raises(core.ExplainerInputError, match=r"^method:"):
        core.explain(classifier(DenseHead()), x, "cam")


def test_activation_map_is_the_mean_feature_map(x):
    model = DenseHead()
    f = features_of(model, x)
    check("activation_map", model, x, [f[n].mean(axis=0) for n in range(len(x))])


@pytest.mark.parametrize("head", [GapHead, DenseHead])
def test_gradcam(x, head):
    model = head()
    f = features_of(model, x)
    expected = []
    for n, c in enumerate(TARGETS):
        if head is GapHead:
            g = np.broadcast_to(
                model.fc.weight[c].detach().double().numpy()[:, None, None] / 16, (K, 4, 4)
            )
        else:
            g = dense_gradients(model, c)
        expected.append(weighted(f[n], g.mean(axis=(1, 2)), relu=True))
    check("gradcam", model, x, expected)


def test_gradcampp_eq19_as_pytorch_grad_cam_writes_it(x):
    model = DenseHead()
    f = features_of(model, x)
    expected = []
    for n, c in enumerate(TARGETS):
        g = dense_gradients(model, c)
        alpha = np.zeros(K)
        for k in range(K):
            total = f[n, k].sum()
            for i in range(4):
                for j in range(4):
                    gij = g[k, i, j]
                    if gij != 0:
                        a = gij**2 / (2 * gij**2 + total * gij**3 + 1e-6)
                        alpha[k] += a * max(gij, 0.0)
        expected.append(weighted(f[n], alpha, relu=True))
    check("gradcampp", model, x, expected)


def test_xgradcam(x):
    model = DenseHead()
    f = features_of(model, x)
    expected = []
    for n, c in enumerate(TARGETS):
        g = dense_gradients(model, c)
        alpha = np.array(
            [
                (g[k] * f[n, k]).sum() / f[n, k].sum() if f[n, k].sum() != 0 else 0.0
                for k in range(K)
            ]
        )
        expected.append(weighted(f[n], alpha, relu=True))
    check("xgradcam", model, x, expected)


@pytest.mark.parametrize("head", [DenseHead, DenseHeadFixedBatch])
def test_ablationcam_relative_drop_of_the_logit(x, head):
    """Exact for a dense head: removing channel k removes Σ_ij V_c[k,i,j]·f^k_ij from y_c.
    ``DenseHeadFixedBatch`` forces full re-runs instead of the shortcut: same result."""
    model = head()
    f = features_of(model, x)
    with torch.no_grad():
        logits = model(x).double().numpy()
    expected = []
    for n, c in enumerate(TARGETS):
        g = dense_gradients(model, c)
        y = logits[n, c]
        alpha = np.array([(g[k] * f[n, k]).sum() / y for k in range(K)])
        expected.append(weighted(f[n], alpha, relu=True))
    check("ablationcam", model, x, expected, tail_batch_size=2)


@pytest.mark.parametrize("weights", ["softmax", "raw"])
def test_scorecam(x, weights):
    """Each non-constant map, upsampled (bilinear) and min–max normalised, masks the input; the
    target's softmax probabilities of the masked inputs, softmax-ed over the informative
    channels (or raw), weight the maps. Channel 4 is constant: skipped, weight 0."""
    model = GapHead()
    f = features_of(model, x)
    expected = []
    for n, c in enumerate(TARGETS):
        scores = {}
        for k in range(K):
            fk = torch.from_numpy(f[n, k]).float()[None, None]
            if float(fk.max()) == float(fk.min()):
                continue
            up = F.interpolate(fk, size=(SIDE, SIDE), mode="bilinear", align_corners=False)[0, 0]
            mask = (up - up.min()) / (up.max() - up.min())
            with torch.no_grad():
                probabilities = torch.softmax(model((x[n] * mask)[None]), dim=1)[0]
            scores[k] = float(probabilities[c])
        assert 4 not in scores
        values = np.array(list(scores.values()))
        if weights == "softmax":
            values = np.exp(values) / np.exp(values).sum()
        alpha = np.zeros(K)
        alpha[list(scores)] = values
        expected.append(weighted(f[n], alpha, relu=True))
    check("scorecam", model, x, expected, weights=weights)


def test_on_a_gap_head_cam_gradcam_and_xgradcam_agree_up_to_scale(x):
    """DESIGN.md: the gradient of a GAP + linear head is spatially constant."""
    clf = classifier(GapHead())
    cam = core.explain(clf, x, "cam", targets=TARGETS).clamp(min=0)
    gradcam = core.explain(clf, x, "gradcam", targets=TARGETS)
    xgradcam = core.explain(clf, x, "xgradcam", targets=TARGETS)
    torch.testing.assert_close(gradcam * 16, cam, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(xgradcam, gradcam, rtol=1e-4, atol=1e-6)
