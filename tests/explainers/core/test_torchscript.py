"""TorchScript classifiers (scripted and traced, loaded with ``torch.jit.load``) are explained
like eager ones: the gradient and perturbation families give the eager model's maps, and a
method that needs hooks is reported as impossible up front."""

from __future__ import annotations

import io

import pytest
import torch

from explainers import core


def _loaded(module: torch.nn.Module, mode: str) -> torch.nn.Module:
    example = torch.randn(1, 3, 16, 16)
    scripted = torch.jit.script(module) if mode == "script" else torch.jit.trace(module, example)
    buffer = io.BytesIO()
    torch.jit.save(scripted, buffer)
    buffer.seek(0)
    return torch.jit.load(buffer)


@pytest.mark.parametrize("mode", ["script", "trace"])
@pytest.mark.parametrize("method", ["gradient", "rise"])
def test_torchscript_maps_match_eager(tiny_net, tiny_images, mode: str, method: str) -> None:
    eager = core.Classifier(tiny_net(), target_layer="features", input_size=16, device="cpu")
    jit = core.Classifier(
        _loaded(tiny_net(), mode), target_layer="features", input_size=16, device="cpu"
    )
    x = tiny_images(2, 16)
    a = core.explain(eager, x, method, targets=1, seed=0)
    b = core.explain(jit, x, method, targets=1, seed=0)
    a_maps = torch.as_tensor(getattr(a, "maps", a))
    b_maps = torch.as_tensor(getattr(b, "maps", b))
    assert torch.allclose(a_maps, b_maps, atol=1e-4, rtol=1e-3)
    assert jit.hook_limitation is not None and "TorchScript" in jit.hook_limitation


def test_methods_a_scripted_model_cannot_run_are_named_before_they_run(tiny_net, tiny_images):
    scripted = torch.jit.script(tiny_net())
    clf = core.Classifier(scripted, input_size=16, device="cpu")
    unsupported = clf.unsupported_methods()
    assert {"gradcam", "scorecam", "guided_backprop"} <= set(unsupported)
    assert not {"gradient", "integrated_gradients", "rise", "occlusion"} & set(unsupported)
    with pytest.raises(core.ExplainerInputError, match=r"gradcam.*TorchScript.*forward hooks"):
        core.explain(clf, tiny_images(2, 16), "gradcam")
