"""Perception for the driving agent: a tiny CNN from a 64x64 camera frame to obstacle proximity per
angular bin (0 = free, 1 = touching). The only torch-importing module of the driving model besides
the agent factory and the training script."""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SIZE = 64


class ProximityNet(nn.Module):
    """uint8 images (B, 64, 64, 3) -> proximity (B, n_bins) in [0, 1].

    Normalisation is part of the module (buffers `mean`, `std`, set from the training frames) so
    a weights file fully defines how pixels are read: two versions can differ in it.
    About 0.6 M multiply-adds per frame: well under 1 ms on one CPU thread.
    """

    def __init__(self, n_bins: int = 9, width: int = 16) -> None:
        super().__init__()
        if n_bins < 1:
            raise ValueError(f"n_bins must be >= 1, got {n_bins}")
        self.n_bins = n_bins
        w = width
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 127.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 64.0))
        self.features = nn.Sequential(
            nn.Conv2d(3, w // 2, 5, stride=2, padding=2),  # 32x32
            nn.ReLU(inplace=True),
            nn.Conv2d(w // 2, w, 3, stride=2, padding=1),  # 16x16
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1),  # 8x8
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * w, 2 * w, 3, stride=2, padding=1),  # 4x4
            nn.ReLU(inplace=True),
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(2 * w * 4 * 4, 64),
            nn.ReLU(inplace=True),
            nn.Linear(64, n_bins),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(images))

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid outputs; the training loss uses these for numerical stability."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(
                f"ProximityNet expects uint8 images of shape (B, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), "
                f"got {tuple(images.shape)}"
            )
        x = images.permute(0, 3, 1, 2).float()
        x = (x - self.mean) / self.std
        return self.head(self.features(x))

    @torch.no_grad()
    def set_normalisation(self, images: torch.Tensor) -> None:
        """Per-channel mean/std of the training frames (uint8, (N, 64, 64, 3))."""
        x = images.float()
        self.mean.copy_(x.mean(dim=(0, 1, 2)).view(1, 3, 1, 1))
        self.std.copy_(x.std(dim=(0, 1, 2)).clamp_min(1.0).view(1, 3, 1, 1))
