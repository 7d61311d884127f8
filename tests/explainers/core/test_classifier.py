"""The classifier adapter: devices, preprocessing, probing, target layers, the execution copy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from explainers import core
from explainers.core.hooks import count_hooks


def test_devices():
    assert core.resolve_device(None).type in ("cpu", "cuda")
    assert core.resolve_device("auto") == core.resolve_device(None)
    assert core.resolve_device("cpu") == torch.device("cpu")
    assert core.resolve_device(torch.device("cpu")) == torch.device("cpu")
    for bad in ("tpu", "nonsense", 3.5):
        with pytest.raises(core.ExplainerInputError, match=r"^device:"):
            core.resolve_device(bad)  # type: ignore[arg-type]
    if not torch.cuda.is_available():
        with pytest.raises(core.ExplainerInputError, match=r"^device:.*not available"):
            core.resolve_device("cuda")


def test_preprocessing_is_resize_256_centre_crop_224_normalise():
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8))
    transform = core.ImagePreprocess(256, 224, (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))
    x = transform([picture, picture.rotate(90, expand=True)])
    assert x.shape == (2, 3, 224, 224)
    resized = picture.resize((384, 256), Image.Resampling.BILINEAR)  # shorter side → 256
    left, top = round((384 - 224) / 2), round((256 - 224) / 2)
    pixels = np.asarray(resized.crop((left, top, left + 224, top + 224)), dtype=np.float64) / 255
    expected = (pixels - np.array([0.5, 0.4, 0.3])) / np.array([0.2, 0.25, 0.3])
    np.testing.assert_allclose(x[0].permute(1, 2, 0).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert transform.view(picture).size == (224, 224)


def test_preprocess_checks_its_images(tiny):
    with pytest.raises(core.ExplainerInputError, match=r"^images:"):
        tiny.preprocess([])
    with pytest.raises(core.ExplainerInputError, match=r"^images:"):
        tiny.preprocess([np.zeros((4, 4, 3))])  # type: ignore[list-item]
    picture = Image.new("L", (40, 30), 128)  # grey scale is converted to RGB
    assert tiny.preprocess([picture]).shape == (1, 3, 16, 16)
    assert tiny.view(picture).size == (16, 16)


def test_preprocess_with_views_equals_preprocess_and_view(tiny):
    rng = np.random.default_rng(4)
    pictures = [
        Image.fromarray(rng.integers(0, 256, (30, 45, 3), dtype=np.uint8)),
        Image.new("L", (20, 50), 90),
    ]
    x, views = tiny.preprocess_with_views(pictures)
    assert torch.equal(x, tiny.preprocess(pictures))
    for view, picture in zip(views, pictures, strict=True):
        assert view.mode == "RGB"
        assert np.array_equal(np.asarray(view), np.asarray(tiny.view(picture)))
    with pytest.raises(core.ExplainerInputError, match=r"^images:"):
        tiny.preprocess_with_views([])


def test_preprocess_with_views_keeps_a_custom_preprocess():
    from tests.explainers.core.conftest import TinyNet

    def preprocess(images):
        return torch.zeros(len(images), 3, 16, 16)

    clf = core.Classifier(TinyNet(), preprocess=preprocess, input_size=16, device="cpu")
    picture = Image.new("RGB", (40, 30), 7)
    x, views = clf.preprocess_with_views([picture])
    assert torch.equal(x, torch.zeros(1, 3, 16, 16))
    assert views[0].size == (40, 30)  # a custom preprocess has no view: the image itself


def test_outputs(tiny, tiny_images):
    x = tiny_images(3, 16)
    logits = tiny.logits(x)
    assert logits.shape == (3, 5) and logits.device.type == "cpu"
    torch.testing.assert_close(tiny.probabilities(x).sum(dim=1), torch.ones(3))
    assert torch.equal(tiny.predict(x), logits.argmax(dim=1))
    assert tiny.num_classes == 5 and tiny.class_names == ["0", "1", "2", "3", "4"]
    assert tiny.feature_shape == (6, 8, 8)
    assert set(tiny.config()) >= {"name", "input_size", "mean", "std", "target_layer", "device"}


def test_target_layer_suggestion(tiny_net, lite0):
    assert core.suggest_target_layer(tiny_net(), input_size=16) == "features"
    assert core.Classifier(tiny_net(), input_size=16).target_layer == "features"
    assert core.suggest_target_layer(lite0.module) == "head"
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    assert core.Classifier(mlp, input_size=8).target_layer is None


class SharedActivation(nn.Module):
    """One ReLU module applied twice: it cannot be a target layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.conv2(self.act(self.conv1(x)))).mean(dim=(2, 3)))


@pytest.mark.parametrize(
    ("layer", "message"),
    [("nope", "no module named"), ("fc", "not N×K×h×w"), ("act", "ran 2 times")],
)
def test_bad_target_layers(layer, message):
    with pytest.raises(core.ExplainerInputError, match=rf"^target_layer:.*{message}"):
        core.Classifier(SharedActivation(), target_layer=layer, input_size=8)
    assert core.Classifier(SharedActivation(), input_size=8).target_layer == "conv2"


class Softmaxed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.fc(x.mean(dim=(2, 3))), dim=1)


class Broken(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("module", "message"),
    [
        (nn.Conv2d(3, 4, 3), "is not a classifier"),
        (nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1)), "fewer than 2 classes"),
        (Softmaxed(), "returns probabilities"),
        (Broken(), "forward pass .* failed: boom"),
        ("not a module", "must be a torch.nn.Module"),
    ],
)
def test_not_a_classifier(module, message):
    with pytest.raises(core.ExplainerInputError, match=rf"^module:.*{message}"):
        core.Classifier(module, input_size=8)


def test_class_names_must_match_the_classes(tiny_net):
    with pytest.raises(core.ExplainerInputError, match=r"^class_names:"):
        core.Classifier(tiny_net(), input_size=16, class_names=["a", "b"])


def test_the_module_handed_in_is_never_modified(tiny_net):
    net = tiny_net().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    clf = core.Classifier(net, input_size=16)
    assert clf.network is not net and clf.module is net
    assert net.training and all(m.training for m in net.modules())
    assert all(p.requires_grad for p in net.parameters())
    assert all(p.is_contiguous() for p in net.parameters()), "memory format untouched"
    assert isinstance(net.features[1], nn.BatchNorm2d), "no folding in the user's module"
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key])
    assert count_hooks(net) == 0 and count_hooks(clf.network) == 0


def test_rewrites_keep_the_function(tiny_net, tiny_images):
    optimized = core.Classifier(tiny_net(), input_size=16)
    plain = core.Classifier(tiny_net(), input_size=16, optimize_network=False)
    assert any(r.startswith("fold") for r in optimized.rewrites)
    assert any(r.startswith("inplace") for r in optimized.rewrites)
    assert plain.rewrites == []
    x = tiny_images(4, 16, seed=9)
    torch.testing.assert_close(optimized.logits(x), plain.logits(x), rtol=1e-5, atol=1e-5)
    for method in ("gradient", "guided_backprop", "gradcam"):
        torch.testing.assert_close(
            core.explain(optimized, x, method, targets=1),
            core.explain(plain, x, method, targets=1),
            rtol=1e-4,
            atol=1e-5,
        )


@pytest.mark.slow
def test_rewrites_of_efficientnet(lite0, photos):
    kinds = {r.split()[0] for r in lite0.rewrites}
    assert kinds == {"fold", "pad", "inplace"}
    assert sum(r.startswith("fold") for r in lite0.rewrites) == 49  # every BatchNorm
    plain = core.Classifier(
        copy.deepcopy(lite0.module), target_layer="head", optimize_network=False
    )
    expected = plain.logits(photos)
    torch.testing.assert_close(
        lite0.logits(photos), expected, rtol=0, atol=1e-4 * float(expected.abs().max())
    )


class Residual(nn.Module):
    """``bn(conv(x)) + conv(x)``: the convolution's output has two consumers, so folding the
    batch norm into it would change the skip branch; ``relu(x) + x`` likewise for in-place."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 2)
        with torch.no_grad():
            self.bn.running_mean.fill_(0.3)
            self.bn.running_var.fill_(2.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = self.bn(y) + y
        return self.fc((self.act(z) + z).mean(dim=(2, 3)))


def test_unsafe_rewrites_are_not_applied(tiny_images):
    model = Residual().eval()
    clf = core.Classifier(model, input_size=8)
    assert clf.rewrites == []
    x = tiny_images(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(clf.logits(x), model(x))
