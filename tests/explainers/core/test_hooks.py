"""Context managers restore what they change, also when their block raises."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from explainers.core.hooks import (
    capture_layer,
    count_hooks,
    eval_mode,
    frozen_parameters,
    guided_relus,
)


def test_modes_and_flags_are_restored_after_an_exception(tiny_net):
    net = tiny_net().train()
    net.fc.bias.requires_grad_(False)
    with pytest.raises(KeyError), eval_mode(net), frozen_parameters(net):
        assert not any(m.training for m in net.modules())
        assert not any(p.requires_grad for p in net.parameters())
        raise KeyError("boom")
    assert all(m.training for m in net.modules())
    assert [p.requires_grad for p in net.parameters()][-1] is False
    assert sum(p.requires_grad for p in net.parameters()) == len(list(net.parameters())) - 1


def test_hooks_are_removed_after_an_exception(tiny_net):
    net = tiny_net()
    with pytest.raises(KeyError), capture_layer(net, "features"), guided_relus(net) as rewritten:
        assert rewritten == 2 and count_hooks(net) == 3
        raise KeyError("boom")
    assert count_hooks(net) == 0


def test_capture_layer_records_the_output_and_protects_it_from_in_place_changes(tiny_net):
    net = tiny_net()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = net.features[:5](x)
    with torch.no_grad(), capture_layer(net, "features.4") as captured:
        net(x)
    torch.testing.assert_close(captured.features(), expected)
    # features.5/6 (BN, ReLU) run after the capture; with an in-place ReLU the record is intact
    net.features[6].inplace = True
    with torch.no_grad(), capture_layer(net, "features.5") as captured:
        net(x)
    assert (captured.features() < 0).any(), "the in-place ReLU must not reach the record"


def test_guided_relu_passes_only_positive_gradients_of_active_units():
    act = nn.ReLU6()
    x = torch.tensor([-1.0, 0.5, 3.0, 7.0, 2.0], requires_grad=True)
    upstream = torch.tensor([1.0, 1.0, -1.0, 1.0, 2.0])
    with guided_relus(act):
        (gradient,) = torch.autograd.grad((act(x) * upstream).sum(), x)
    assert gradient.tolist() == [0.0, 1.0, 0.0, 0.0, 2.0]
    (plain,) = torch.autograd.grad((act(x) * upstream).sum(), x)
    assert plain.tolist() == [0.0, 1.0, -1.0, 0.0, 2.0]
