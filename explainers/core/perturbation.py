"""Masks and perturbed images: normalisation, upsampling, blur, cell grids.

Shared by Score-CAM, the faithfulness metrics and the perturbation family. Everything stays in
torch on the input's device (no numpy round trip), and is deterministic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def minmax_normalize(maps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Min–max normalise each map over its last two dimensions: ``(m − min) / (max − min)``.

    Returns the normalised maps and a boolean tensor (one per map) that is True where the map is
    constant; constant maps are returned as zeros (their normalisation is undefined).
    """
    low = maps.amin(dim=(-2, -1), keepdim=True)
    high = maps.amax(dim=(-2, -1), keepdim=True)
    span = high - low
    constant = span == 0
    normalised = (maps - low) / torch.where(constant, torch.ones_like(span), span)
    return normalised.masked_fill(constant, 0.0), constant.squeeze(-1).squeeze(-1)


def upsample(maps: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Upsample B×h×w maps to B×H×W (``align_corners=False``, no antialiasing)."""
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    kwargs = {} if mode == "nearest" else {"align_corners": False}
    return F.interpolate(maps.unsqueeze(1), size=size, mode=mode, **kwargs).squeeze(1)


def blur_kernel_size(height: int) -> int:
    """The reference code's box-blur size: ``max(H // 5, 9)``, rounded up to an odd number."""
    size = max(height // 5, 9)
    return size + 1 if size % 2 == 0 else size


def box_blur(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Box blur of N×C×H×W images with an odd ``kernel``, zero padding, divisor ``kernel²``
    (the reference code's ``conv2d`` with a ``1/k²`` kernel and ``padding=k//2``)."""
    return F.avg_pool2d(x, kernel, stride=1, padding=kernel // 2, count_include_pad=True)


def pixel_cells(
    cells: tuple[int, int], size: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """H×W long tensor: the index (row-major) of the h×w map cell covering each pixel, by
    nearest-neighbour upsampling (pixel row r lies in cell row ``floor(r·h/H)``)."""
    (h, w), (height, width) = cells, size
    rows = torch.arange(height, device=device) * h // height
    cols = torch.arange(width, device=device) * w // width
    return rows.view(-1, 1) * w + cols.view(1, -1)
