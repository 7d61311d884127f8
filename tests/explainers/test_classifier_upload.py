"""Uploaded models: TorchScript or weights_only state_dicts; pickles never run code."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
from django.contrib.auth import get_user_model

from explainers.models import Classifier
from explainers.services.classifiers import ClassifierError, classifier_upload

from .conftest import stored_files

pytestmark = pytest.mark.django_db


class TinyNet(torch.nn.Module):
    """Three classes from a 3×32×32 image: conv → global average pooling → linear."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.features(x)).mean(dim=(2, 3)))


class Exploit:
    """A pickle payload that would create a file if it were ever unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("grace", password="x" * 12)


def saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def scripted() -> bytes:
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(TinyNet().eval()), buffer)
    return buffer.getvalue()


ARCH = f"{__name__}.TinyNet"


def test_torchscript_upload_is_stored_with_its_hash(media_root, owner):
    data = scripted()
    row = classifier_upload(
        owner=owner,
        name="tiny",
        data=data,
        source="torchscript",
        class_names=["a", "b", "c"],
        input_size=32,
    )
    assert row.source == Classifier.Source.TORCHSCRIPT and len(row.sha256) == 64
    assert row.file.read() == data


def test_state_dict_upload_for_an_installed_architecture(media_root, owner, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, __name__, sys.modules[__name__])
    row = classifier_upload(
        owner=owner,
        name="tiny-sd",
        data=saved(TinyNet().state_dict()),
        source="state_dict",
        architecture=ARCH,
        class_names=["a", "b", "c"],
        input_size=32,
    )
    assert row.architecture == ARCH


def test_a_malicious_pickle_is_never_unpickled(media_root, owner, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ClassifierError, match="weights_only=True"):
        classifier_upload(
            owner=owner,
            name="evil",
            data=saved({"weight": Exploit(marker)}),
            source="state_dict",
            architecture=ARCH,
            class_names=["a", "b", "c"],
            input_size=32,
        )
    assert not marker.exists()
    assert not Classifier.objects.exists() and stored_files(media_root) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"source": "torchscript", "data": b"garbage"}, "not a TorchScript archive"),
        ({"source": "state_dict", "architecture": "nowhere.Net"}, "not installed"),
        ({"source": "state_dict", "architecture": "os.path"}, "is not installed|Module class"),
        ({"source": "state_dict", "architecture": ""}, "architecture: required"),
        ({"source": "torchscript", "class_names": ["a", "b"]}, "2 names for a model with 3"),
        ({"source": "pickle"}, "source"),
        ({"source": "torchscript", "input_size": 8}, "input_size"),
    ],
)
def test_bad_uploads_are_refused_and_store_nothing(media_root, owner, kwargs, message):
    arguments = {
        "owner": owner,
        "name": "bad",
        "data": scripted(),
        "class_names": ["a", "b", "c"],
        "input_size": 32,
        **kwargs,
    }
    with pytest.raises(ClassifierError, match=message):
        classifier_upload(**arguments)
    assert not Classifier.objects.exists() and stored_files(media_root) == []


def test_state_dict_that_does_not_fit_the_architecture(media_root, owner):
    with pytest.raises(ClassifierError, match="do not fit"):
        classifier_upload(
            owner=owner,
            name="misfit",
            data=saved({"head.weight": torch.zeros(2, 2)}),
            source="state_dict",
            architecture=ARCH,
            class_names=["a", "b", "c"],
            input_size=32,
        )


def test_state_dict_upload_checks_its_target_layer(media_root, owner, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, __name__, sys.modules[__name__])
    arguments = {
        "owner": owner,
        "data": saved(TinyNet().state_dict()),
        "source": "state_dict",
        "architecture": ARCH,
        "class_names": ["a", "b", "c"],
        "input_size": 32,
    }
    with pytest.raises(ClassifierError, match=r"target_layer: .*nowhere"):
        classifier_upload(name="no-layer", target_layer="nowhere", **arguments)
    with pytest.raises(ClassifierError, match=r"target_layer: 'head' outputs .* not N×K×h×w"):
        classifier_upload(name="flat", target_layer="head", **arguments)
    assert not Classifier.objects.exists() and stored_files(media_root) == []
    row = classifier_upload(name="ok", target_layer="features", **arguments)
    assert row.target_layer == "features"


def test_torchscript_upload_refuses_a_target_layer(media_root, owner):
    """Its layers cannot be hooked: a target layer would promise Grad-CAM, which cannot run."""
    with pytest.raises(ClassifierError, match=r"target_layer: leave it empty .* forward hooks"):
        classifier_upload(
            owner=owner,
            name="tiny",
            data=scripted(),
            source="torchscript",
            class_names=["a", "b", "c"],
            input_size=32,
            target_layer="features",
        )
    assert not Classifier.objects.exists()
