"""Perception for the grasp agent: a tiny CNN from a 64x64 frame of the fixed camera to the
object's table position (x, y) and its size (width), in metres. Keypoint-style: conv features ->
K heatmaps -> spatial soft-argmax (expected pixel coordinates), plus the features' global means
(how much of the frame each feature covers: apparent size) -> a small MLP to (x, y, size). The only torch-importing module of the grasp
model besides the agent factory and the training script."""

from __future__ import annotations

import torch
from torch import nn

IMAGE_SIZE = 64


class ObjectLocator(nn.Module):
    """uint8 images (B, 64, 64, 3) -> (B, 3): the object's (x, y) in the world frame and its
    width, all in metres.

    Normalisation (buffers `mean`, `std` from the training frames) and the output offset/scale
    (buffers `xy_mean`, `xy_std`) are part of the module, so a weights file fully defines how
    pixels are read. About 2.5 M multiply-adds per frame: ~1 ms on one CPU thread.
    """

    def __init__(self, width: int = 16, keypoints: int = 8) -> None:
        super().__init__()
        w = width
        self.register_buffer("mean", torch.full((1, 3, 1, 1), 127.5))
        self.register_buffer("std", torch.full((1, 3, 1, 1), 64.0))
        self.register_buffer("xy_mean", torch.tensor([0.55, 0.0, 0.04]))
        self.register_buffer("xy_std", torch.tensor([0.06, 0.09, 0.012]))
        self.features = nn.Sequential(
            nn.Conv2d(3, w, 5, stride=2, padding=2),  # 32x32
            nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, w, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.keypoints = nn.Conv2d(w, keypoints, 1)
        side = IMAGE_SIZE // 2
        grid = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2 - 1
        self.register_buffer("grid_u", grid.view(1, 1, 1, side), persistent=False)
        self.register_buffer("grid_v", grid.view(1, 1, side, 1), persistent=False)
        # Sharpness of the heatmaps' softmax (learned): starts peaked enough to pass gradients.
        self.log_temperature = nn.Parameter(torch.tensor(2.0))
        self.head = nn.Sequential(nn.Linear(2 * keypoints + w, 64), nn.ReLU(inplace=True), nn.Linear(64, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.normalised(images) * self.xy_std + self.xy_mean

    def normalised(self, images: torch.Tensor) -> torch.Tensor:
        """Outputs in standardised units (the training loss uses these)."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(f"ObjectLocator expects uint8 images of shape (B, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), "
                             f"got {tuple(images.shape)}")
        x = (images.permute(0, 3, 1, 2).float() - self.mean) / self.std
        feats = self.features(x)
        maps = self.keypoints(feats) * self.log_temperature.exp()
        b, k, h, w = maps.shape
        prob = torch.softmax(maps.view(b, k, h * w), dim=-1).view(b, k, h, w)
        u = (prob * self.grid_u).sum(dim=(2, 3))
        v = (prob * self.grid_v).sum(dim=(2, 3))
        return self.head(torch.cat([u, v, feats.mean(dim=(2, 3))], dim=1))

    @torch.no_grad()
    def set_normalisation(self, images: torch.Tensor, xy: torch.Tensor) -> None:
        x = images.float()
        self.mean.copy_(x.mean(dim=(0, 1, 2)).view(1, 3, 1, 1))
        self.std.copy_(x.std(dim=(0, 1, 2)).clamp_min(1.0).view(1, 3, 1, 1))
        self.xy_mean.copy_(xy.mean(dim=0))
        self.xy_std.copy_(xy.std(dim=0).clamp_min(1e-3))
