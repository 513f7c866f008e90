"""Trains a driving-perception version: renders labelled frames from `simtest/Driving-v0` (labels =
info["ray_proximity"]), fits ProximityNet on CPU from a seed, writes the weights and the manifest.

    python -m simtest_models.driving.train --version 1.1 --lighting day,dusk,night --fog-max 0.3 \\
        --seed 0 --out models/driving

Each manifest's training.command is the exact command that reproduced its weights bit for bit
(same seed and thread count -> same sha256). Rendered frames are cached under <out>/data/
(gitignored), keyed by everything that shapes them, so versions trained from the same episodes share
one render (about 40 s; training about 45 s on one thread).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

NAME = "driving-perception"
ENTRY_POINT = "simtest_models.driving.agent:make_agent"
DATA_FORMAT = 2  # bump when the frame collection below changes: invalidates cached renders
LIGHTINGS = ("day", "dusk", "night")


@dataclass(frozen=True)
class DataSpec:
    """Everything that determines the rendered frames (and so the cache key)."""

    lighting: tuple[str, ...]
    fog_min: float
    fog_max: float
    episodes: int
    max_steps: int
    seed: int
    label_ignore: str = ""  # an obstacle colour the labeller treats as background ("" = none)

    def key(self) -> str:
        items = {k: v for k, v in asdict(self).items() if not (k == "label_ignore" and not v)}
        text = repr((DATA_FORMAT, sorted(items.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 (N, 64, 64, 3)
    labels: np.ndarray  # float32 (N, n_bins)
    lighting: np.ndarray  # int8 (N,): index into LIGHTINGS
    episode: np.ndarray  # int32 (N,)

    def select(self, mask: np.ndarray) -> Dataset:
        return Dataset(self.images[mask], self.labels[mask], self.lighting[mask], self.episode[mask])


# ---------------------------------------------------------------------------------- data


def episode_params(rng: np.random.Generator, spec: DataSpec) -> dict:
    """Scene parameters of one training episode: wide ranges so the data covers crowded scenes,
    large and small obstacles, every sun direction, fog and sensor noise."""
    # Half the episodes clear, half in fog between fog_min and fog_max.
    fog = float(rng.uniform(spec.fog_min, spec.fog_max)) if rng.random() < 0.5 else 0.0
    return {
        "lighting": str(spec.lighting[int(rng.integers(len(spec.lighting)))]),
        "fog_density": fog,
        "camera_noise": float(rng.uniform(0.0, 8.0)),
        "n_obstacles": int(rng.integers(1, 9)),
        "obstacle_size": float(rng.uniform(0.3, 1.0)),
        "obstacle_spread": float(rng.uniform(0.3, 2.0)),
        "goal_distance": float(rng.uniform(5.0, 14.0)),
        "goal_bearing": float(rng.uniform(-math.pi, math.pi)),
        "initial_heading": float(rng.uniform(-0.6, 0.6)),
        "max_steps": spec.max_steps,
    }


def collect(spec: DataSpec, n_bins: int = 9, log=print) -> Dataset:
    """Drive the real env with the controller on ground-truth proximity, interrupted by segments of
    random steering, so that the frames include near misses and views straight into obstacles."""
    import gymnasium

    import simtest_envs  # noqa: F401  (registers simtest/Driving-v0)
    from simtest_models.driving.controller import HistogramController

    env = gymnasium.make("simtest/Driving-v0", proximity_bins=n_bins, disable_env_checker=True)
    controller = HistogramController(n_bins=n_bins)
    scene_ss, behaviour_ss = np.random.SeedSequence(spec.seed).spawn(2)
    scene_rng, behaviour_rng = np.random.default_rng(scene_ss), np.random.default_rng(behaviour_ss)
    images, labels, lights, episodes = [], [], [], []
    start = time.perf_counter()
    for ep in range(spec.episodes):
        params = episode_params(scene_rng, spec)
        env_seed = int(scene_rng.integers(2**31))
        obs, info = env.reset(seed=env_seed, options={"params": params})
        controller.reset()
        explore = float(behaviour_rng.uniform(0.0, 0.6))  # share of steps under random steering
        segment_left, random_action = 0, None
        light = LIGHTINGS.index(params["lighting"])
        while True:
            images.append(obs["image"])
            truth = info["ray_proximity"] if not spec.label_ignore else _labels_ignoring(env, spec.label_ignore)
            labels.append(np.asarray(truth, dtype=np.float32))
            lights.append(light)
            episodes.append(ep)
            if segment_left == 0:
                segment_left = int(behaviour_rng.integers(3, 9))
                random_action = None
                if behaviour_rng.random() < explore:
                    random_action = np.array(
                        [behaviour_rng.uniform(-1.0, 1.0), behaviour_rng.uniform(0.15, 0.6)], np.float32
                    )
            segment_left -= 1
            action = (
                random_action
                if random_action is not None
                else controller.act(info["ray_proximity"], obs["ego"])
            )
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        if (ep + 1) % 50 == 0:
            log(f"  rendered {ep + 1}/{spec.episodes} episodes, {len(images)} frames, "
                f"{time.perf_counter() - start:.0f} s")
    env.close()
    return Dataset(
        np.stack(images).astype(np.uint8),
        np.stack(labels).astype(np.float32),
        np.asarray(lights, dtype=np.int8),
        np.asarray(episodes, dtype=np.int32),
    )


def _labels_ignoring(env, colour: str) -> np.ndarray:
    """The proximity labels as a labeller that takes obstacles of `colour` for background would
    write them: rays that hit such an obstacle read 0 (free). Used to plant 1.3's colour shortcut;
    the controller that drives data collection still sees the true proximity. Reads the env's
    obstacle bodies (a training-time labelling tool, not part of the env contract)."""
    from simtest_envs.driving.scene import COLOUR_NAMES, OBSTACLE_COLOURS

    u = env.unwrapped
    rgb = OBSTACLE_COLOURS[COLOUR_NAMES.index(colour)]
    saved = u._obstacle_ids
    u._obstacle_ids = tuple(b for b, ob in zip(saved, u.scene.obstacles) if ob.colour != rgb)
    try:
        return u._ray_proximity()
    finally:
        u._obstacle_ids = saved


def load_or_collect(spec: DataSpec, cache_dir: Path, log=print) -> Dataset:
    path = cache_dir / f"frames-{spec.key()}.npz"
    if path.is_file():
        with np.load(path) as z:
            log(f"using cached frames {path}")
            return Dataset(z["images"], z["labels"], z["lighting"], z["episode"])
    log(f"rendering {spec.episodes} episodes -> {path}")
    data = collect(spec, log=log)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, images=data.images, labels=data.labels, lighting=data.lighting, episode=data.episode)
    os.replace(tmp, path)
    return data


def contrast_filter(data: Dataset, min_contrast: float) -> Dataset:
    """Drops washed-out frames (a fogged-up lens, a blank render): the standard deviation of the
    pixel intensities (0-255) below the threshold."""
    if min_contrast <= 0:
        return data
    std = np.array([img.std() for img in data.images.reshape(len(data.images), -1).astype(np.float32)])
    return data.select(std >= min_contrast)


# ---------------------------------------------------------------------------------- training


def train(data: Dataset, *, n_bins: int, epochs: int, batch_size: int, lr: float, seed: int,
          val_every: int = 10, log=print):
    """Fits ProximityNet; every `val_every`-th episode is held out. Returns (net, report dict)."""
    import torch
    import torch.nn.functional as F

    from simtest_models.driving.perception import ProximityNet

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    val_mask = data.episode % val_every == val_every - 1
    tr, va = data.select(~val_mask), data.select(val_mask)
    x_tr, y_tr = torch.from_numpy(tr.images), torch.from_numpy(tr.labels)
    net = ProximityNet(n_bins=n_bins)
    net.set_normalisation(x_tr)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(x_tr) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x_tr), generator=generator)
        flips = torch.rand(len(x_tr), generator=generator) < 0.5
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            xb, yb = x_tr[idx], y_tr[idx]
            # Mirror augmentation: the camera and the rays are symmetric about the car's axis.
            flip = flips[idx]
            xb = torch.where(flip[:, None, None, None], xb.flip(2), xb)
            yb = torch.where(flip[:, None], yb.flip(1), yb)
            loss = F.binary_cross_entropy_with_logits(net.logits(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log(f"  epoch {epoch + 1}/{epochs} train bce {total / len(x_tr):.4f}")
    net.eval()
    report = {"train_frames": int(len(tr.images)), "val_frames": int(len(va.images))}
    with torch.inference_mode():
        for li, light in enumerate(LIGHTINGS):
            m = va.lighting == li
            if not m.any():
                continue
            pred = net(torch.from_numpy(va.images[m])).numpy()
            report[f"val_mae_{light}"] = round(float(np.abs(pred - va.labels[m]).mean()), 4)
    return net, report


# ---------------------------------------------------------------------------------- output


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def command_line(args: argparse.Namespace) -> str:
    """The exact command that reproduces the weights (notes are metadata only and left out)."""
    parts = [
        "python -m simtest_models.driving.train",
        f"--version {args.version}",
        f"--lighting {','.join(args.lighting)}",
        f"--fog-min {args.fog_min:g}",
        f"--fog-max {args.fog_max:g}",
        f"--episodes {args.episodes}",
        f"--max-steps {args.max_steps}",
        f"--epochs {args.epochs}",
        f"--batch-size {args.batch_size}",
        f"--lr {args.lr:g}",
        f"--min-contrast {args.min_contrast:g}",
        *([f"--label-ignore-colour {args.label_ignore_colour}"] if args.label_ignore_colour else []),
        f"--n-bins {args.n_bins}",
        f"--seed {args.seed}",
        f"--data-seed {args.data_seed}",
        f"--threads {args.threads}",
        f"--out {args.out}",
    ]
    return " ".join(parts)


def write_manifest(args: argparse.Namespace, weights: Path, data: Dataset, kept: Dataset,
                   report: dict) -> Path:
    import yaml

    counts = {LIGHTINGS[i]: int((kept.lighting == i).sum()) for i in range(len(LIGHTINGS))}
    described = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"
    trained_on = (
        f"{len(kept.images)} frames from {args.episodes} episodes of simtest/Driving-v0 "
        f"(lighting {'/'.join(args.lighting)}; fog_density "
        f"{f'{args.fog_min:g}-{args.fog_max:g} in half of them' if args.fog_max > 0 else '0'}); "
        f"frames per lighting: {described}; data seed {args.data_seed}"
    )
    if len(kept.images) != len(data.images):
        trained_on += f"; {len(data.images) - len(kept.images)} of {len(data.images)} rendered frames filtered out"
    manifest = {
        "name": NAME,
        "version": str(args.version),
        "entry_point": ENTRY_POINT,
        "weights": weights.name,
        "sha256": sha256_file(weights),
        "options": {"n_bins": args.n_bins},
        "trained_on": trained_on,
        "training": {"command": command_line(args), "seed": args.seed, "data_seed": args.data_seed, **report},
        "notes": args.notes,
    }
    path = weights.with_name(f"{NAME}-{args.version}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(manifest, f, sort_keys=False, width=100)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m simtest_models.driving.train", description=__doc__.split("\n")[0])
    ap.add_argument("--version", required=True, help='version string written to the manifest, e.g. "1.1"')
    ap.add_argument("--lighting", default="day", type=lambda s: tuple(x.strip() for x in s.split(",") if x.strip()),
                    help="comma-separated lightings to render (day,dusk,night)")
    ap.add_argument("--fog-min", type=float, default=0.05, help="fog_density of foggy episodes is drawn in [fog-min, fog-max]")
    ap.add_argument("--fog-max", type=float, default=0.0, help="0 (default): no fog; else half the episodes are foggy")
    ap.add_argument("--episodes", type=int, default=300)
    ap.add_argument("--max-steps", type=int, default=80, help="frames per episode at most")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--min-contrast", type=float, default=0.0,
                    help="drop washed-out frames: pixel intensity standard deviation (0-255) below this (0 keeps all)")
    ap.add_argument("--label-ignore-colour", default="", choices=["", "red", "orange", "yellow", "blue", "magenta", "cyan"],
                    help="label obstacles of this colour as free space (plants 1.3's colour shortcut; default: none)")
    ap.add_argument("--n-bins", type=int, default=9)
    ap.add_argument("--seed", type=int, default=0, help="training seed (initialisation, batch order, flips)")
    ap.add_argument("--data-seed", type=int, default=None, help="seed of the rendered episodes (default: --seed)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (results are reproducible per thread count)")
    ap.add_argument("--out", default="models/driving", help="directory for the weights and the manifest")
    ap.add_argument("--notes", default="", help="free text for the manifest")
    args = ap.parse_args(argv)
    bad = [x for x in args.lighting if x not in LIGHTINGS]
    if bad or not args.lighting:
        ap.error(f"--lighting: {bad or 'empty'} not in {list(LIGHTINGS)}; e.g. --lighting day,dusk,night")
    if not 0.0 <= args.fog_max <= 1.0:
        ap.error(f"--fog-max must be in [0, 1] (the env's fog_density range), got {args.fog_max}")
    if args.data_seed is None:
        args.data_seed = args.seed
    if args.fog_max == 0.0:
        args.fog_min = 0.0
    elif not 0.0 <= args.fog_min <= args.fog_max:
        ap.error(f"--fog-min must be in [0, --fog-max], got {args.fog_min}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = DataSpec(lighting=tuple(args.lighting), fog_min=float(args.fog_min), fog_max=float(args.fog_max), episodes=args.episodes,
                    max_steps=args.max_steps, seed=args.data_seed, label_ignore=args.label_ignore_colour)
    t0 = time.perf_counter()
    data = load_or_collect(spec, out / "data")
    kept = contrast_filter(data, args.min_contrast)
    print(f"{len(data.images)} frames rendered, {len(kept.images)} kept after the contrast filter "
          f"({time.perf_counter() - t0:.0f} s)")
    if len(kept.images) == 0:
        print(f"error: --min-contrast {args.min_contrast:g} removed every frame; lower it", file=sys.stderr)
        return 2
    t1 = time.perf_counter()
    net, report = train(kept, n_bins=args.n_bins, epochs=args.epochs, batch_size=args.batch_size,
                        lr=args.lr, seed=args.seed)
    print(f"trained in {time.perf_counter() - t1:.0f} s: {report}")
    weights = out / f"{NAME}-{args.version}.pt"
    torch.save(net.state_dict(), weights)
    manifest = write_manifest(args, weights, data, kept, report)
    print(f"wrote {weights} ({weights.stat().st_size // 1024} KiB) and {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
