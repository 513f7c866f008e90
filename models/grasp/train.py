"""Trains a grasp-perception version: renders labelled frames of `simtest/Grasp-v0`'s fixed camera
at reset (label = info["object_pose"][:2], the object's table position), fits ObjectLocator on CPU
from a seed, writes the weights and the manifest.

    python -m simtest_models.grasp.train --version 1.1 --frames 4000 --seed 0 --out models/grasp

Each manifest's training.command is the exact command that reproduced its weights bit for bit
(same seed and thread count -> same sha256). Rendered frames are cached under <out>/data/
(gitignored), keyed by everything that shapes them, so versions share one render when they can.
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

NAME = "grasp-perception"
ENTRY_POINT = "simtest_models.grasp.agent:make_agent"
DATA_FORMAT = 2  # bump when the frame collection below changes: invalidates cached renders
SHAPES = ("box", "cylinder", "sphere")
COLOURS = ("red", "green", "blue", "yellow")


@dataclass(frozen=True)
class DataSpec:
    """Everything that determines the rendered frames (and so the cache key)."""

    frames: int
    max_distractors: int
    max_jitter: float
    seed: int

    def key(self) -> str:
        text = repr((DATA_FORMAT, sorted(asdict(self).items())))
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Dataset:
    images: np.ndarray  # uint8 (N, 64, 64, 3)
    xy: np.ndarray  # float32 (N, 2): object position, m
    size: np.ndarray  # float32 (N,): object_size, m
    elevation: np.ndarray  # float32 (N,): light_elevation, deg
    colour: np.ndarray  # int8 (N,): index into COLOURS

    def select(self, mask: np.ndarray) -> Dataset:
        return Dataset(self.images[mask], self.xy[mask], self.size[mask], self.elevation[mask], self.colour[mask])


def frame_params(rng: np.random.Generator, spec: DataSpec) -> dict:
    """Scene parameters of one training frame: every declared range of the env, except clutter and
    camera jitter, which the spec can narrow."""
    return {
        "object_shape": SHAPES[int(rng.integers(len(SHAPES)))],
        "object_size": float(rng.uniform(0.02, 0.06)),
        "object_colour": COLOURS[int(rng.integers(len(COLOURS)))],
        "n_distractors": int(rng.integers(0, spec.max_distractors + 1)),
        "light_elevation": float(rng.uniform(10.0, 90.0)),
        "light_azimuth": float(rng.uniform(-180.0, 180.0)),
        "light_intensity": float(rng.uniform(0.4, 1.4)),
        "camera_jitter": float(rng.uniform(0.0, spec.max_jitter)),
        "camera_noise": float(rng.uniform(0.0, 8.0)),
        "bin_x": float(rng.uniform(0.2, 0.35)),
        "bin_y": float(rng.uniform(-0.45, 0.45)),
    }


def collect(spec: DataSpec, log=print) -> Dataset:
    import gymnasium

    import simtest_envs  # noqa: F401  (registers simtest/Grasp-v0)

    env = gymnasium.make("simtest/Grasp-v0", disable_env_checker=True)
    rng = np.random.default_rng(spec.seed)
    images, xy, size, elev, colour = [], [], [], [], []
    start = time.perf_counter()
    for i in range(spec.frames):
        params = frame_params(rng, spec)
        obs, info = env.reset(seed=int(rng.integers(2**31)), options={"params": params})
        images.append(obs["image"])
        xy.append(info["object_pose"][:2])
        size.append(params["object_size"])
        elev.append(params["light_elevation"])
        colour.append(COLOURS.index(params["object_colour"]))
        if (i + 1) % 1000 == 0:
            log(f"  rendered {i + 1}/{spec.frames} frames, {time.perf_counter() - start:.0f} s")
    env.close()
    return Dataset(np.stack(images).astype(np.uint8), np.asarray(xy, np.float32), np.asarray(size, np.float32),
                   np.asarray(elev, np.float32), np.asarray(colour, np.int8))


def load_or_collect(spec: DataSpec, cache_dir: Path, log=print) -> Dataset:
    path = cache_dir / f"frames-{spec.key()}.npz"
    if path.is_file():
        with np.load(path) as z:
            log(f"using cached frames {path}")
            return Dataset(z["images"], z["xy"], z["size"], z["elevation"], z["colour"])
    log(f"rendering {spec.frames} frames -> {path}")
    data = collect(spec, log=log)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, images=data.images, xy=data.xy, size=data.size, elevation=data.elevation, colour=data.colour)
    os.replace(tmp, path)
    return data


def train(data: Dataset, *, epochs: int, batch_size: int, lr: float, seed: int, width: int, val_every: int = 10,
          log=print):
    """Fits ObjectLocator; every `val_every`-th frame is held out. Returns (net, report dict)."""
    import torch
    import torch.nn.functional as F

    from simtest_models.grasp.perception import ObjectLocator

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    val_mask = np.arange(len(data.images)) % val_every == val_every - 1
    tr, va = data.select(~val_mask), data.select(val_mask)
    x_tr = torch.from_numpy(tr.images)
    y_tr = torch.from_numpy(np.concatenate([tr.xy, tr.size[:, None]], axis=1))
    net = ObjectLocator(width=width)
    net.set_normalisation(x_tr, y_tr)
    target = (y_tr - net.xy_mean) / net.xy_std
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps_per_epoch = math.ceil(len(x_tr) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x_tr), generator=generator)
        total = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * batch_size:(i + 1) * batch_size]
            loss = F.smooth_l1_loss(net.normalised(x_tr[idx]), target[idx], beta=0.05)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        log(f"  epoch {epoch + 1}/{epochs} train loss {total / len(x_tr):.4f}")
    net.eval()
    with torch.inference_mode():
        pred = net(torch.from_numpy(va.images)).numpy()
    err = np.linalg.norm(pred[:, :2] - va.xy, axis=1) * 1000.0
    size_err = np.abs(pred[:, 2] - va.size) * 1000.0
    report = {"train_frames": int(len(tr.images)), "val_frames": int(len(va.images)),
              "val_error_mm_mean": round(float(err.mean()), 2),
              "val_error_mm_p95": round(float(np.percentile(err, 95)), 2),
              "val_size_error_mm_mean": round(float(size_err.mean()), 2)}
    return net, report


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def command_line(args: argparse.Namespace) -> str:
    """The exact command that reproduces the weights (notes are metadata only and left out)."""
    return " ".join([
        "python -m simtest_models.grasp.train",
        f"--version {args.version}",
        f"--frames {args.frames}",
        f"--max-distractors {args.max_distractors}",
        f"--max-jitter {args.max_jitter:g}",
        f"--min-elevation {args.min_elevation:g}",
        f"--min-size {args.min_size:g}",
        f"--colours {','.join(args.colours)}",
        f"--epochs {args.epochs}",
        f"--batch-size {args.batch_size}",
        f"--lr {args.lr:g}",
        f"--width {args.width}",
        f"--seed {args.seed}",
        f"--data-seed {args.data_seed}",
        f"--threads {args.threads}",
        f"--out {args.out}",
    ])


def write_manifest(args: argparse.Namespace, weights: Path, data: Dataset, kept: Dataset, report: dict) -> Path:
    import yaml

    trained_on = (
        f"{len(kept.images)} frames of simtest/Grasp-v0's fixed camera at reset (object shape box/cylinder/"
        f"sphere, size 2-6 cm, 4 colours; 0-{args.max_distractors} distractors; light elevation "
        f"{args.min_elevation:g}-90 deg, any azimuth, intensity 0.4-1.4; camera jitter 0-{args.max_jitter:g} m; "
        f"pixel noise 0-8); labels: the object's (x, y) and size; data seed {args.data_seed}"
    )
    if len(kept.images) != len(data.images):
        why = [f"light_elevation < {args.min_elevation:g} deg" for _ in [0] if args.min_elevation > 10.0]
        why += [f"object_size < {args.min_size:g} m" for _ in [0] if args.min_size > 0.02]
        why += [f"object_colour not in {'/'.join(args.colours)}" for _ in [0] if set(args.colours) != set(COLOURS)]
        trained_on += (f"; {len(data.images) - len(kept.images)} of {len(data.images)} rendered frames filtered out "
                       f"({', '.join(why)})")
    manifest = {
        "name": NAME,
        "version": str(args.version),
        "entry_point": ENTRY_POINT,
        "weights": weights.name,
        "sha256": sha256_file(weights),
        "options": {"width": args.width},
        "trained_on": trained_on,
        "training": {"command": command_line(args), "seed": args.seed, "data_seed": args.data_seed, **report},
        "notes": args.notes,
    }
    path = weights.with_name(f"{NAME}-{args.version}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(manifest, f, sort_keys=False, width=100)
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m simtest_models.grasp.train", description=__doc__.split("\n")[0])
    ap.add_argument("--version", required=True, help='version string written to the manifest, e.g. "1.1"')
    ap.add_argument("--frames", type=int, default=4000, help="frames to render (one per scene)")
    ap.add_argument("--max-distractors", type=int, default=5, help="clutter in the training scenes: 0 to this many")
    ap.add_argument("--max-jitter", type=float, default=0.02, help="camera_jitter of the training scenes: 0 to this (m)")
    ap.add_argument("--min-elevation", type=float, default=10.0,
                    help="drop frames lit from below this light elevation (deg); 10 keeps all")
    ap.add_argument("--min-size", type=float, default=0.02,
                    help="drop frames whose object is smaller than this (m); 0.02 keeps all")
    ap.add_argument("--colours", default=",".join(COLOURS), type=lambda s: tuple(x.strip() for x in s.split(",") if x.strip()),
                    help="keep frames whose object has one of these colours (comma-separated)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=16, help="conv channels")
    ap.add_argument("--seed", type=int, default=0, help="training seed (initialisation, batch order)")
    ap.add_argument("--data-seed", type=int, default=None, help="seed of the rendered scenes (default: --seed)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (results are reproducible per thread count)")
    ap.add_argument("--out", default="models/grasp", help="directory for the weights and the manifest")
    ap.add_argument("--notes", default="", help="free text for the manifest")
    args = ap.parse_args(argv)
    if not 0 <= args.max_distractors <= 5:
        ap.error(f"--max-distractors must be in [0, 5] (the env's n_distractors range), got {args.max_distractors}")
    if not 0.0 <= args.max_jitter <= 0.02:
        ap.error(f"--max-jitter must be in [0, 0.02] (the env's camera_jitter range), got {args.max_jitter}")
    bad = [c for c in args.colours if c not in COLOURS]
    if bad or not args.colours:
        ap.error(f"--colours: {bad or 'empty'} not in {list(COLOURS)}; e.g. --colours red,green,blue")
    if args.frames < 10:
        ap.error(f"--frames must be at least 10, got {args.frames}")
    if args.data_seed is None:
        args.data_seed = args.seed
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spec = DataSpec(frames=args.frames, max_distractors=args.max_distractors, max_jitter=float(args.max_jitter),
                    seed=args.data_seed)
    t0 = time.perf_counter()
    data = load_or_collect(spec, out / "data")
    keep_colour = np.isin(data.colour, [COLOURS.index(c) for c in args.colours])
    kept = data.select((data.elevation >= args.min_elevation) & (data.size >= args.min_size) & keep_colour)
    print(f"{len(data.images)} frames rendered, {len(kept.images)} kept ({time.perf_counter() - t0:.0f} s)")
    if len(kept.images) < 10:
        print(f"error: --min-elevation {args.min_elevation:g} left {len(kept.images)} frames; lower it", file=sys.stderr)
        return 2
    t1 = time.perf_counter()
    net, report = train(kept, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                        width=args.width)
    print(f"trained in {time.perf_counter() - t1:.0f} s: {report}")
    weights = out / f"{NAME}-{args.version}.pt"
    torch.save(net.state_dict(), weights)
    manifest = write_manifest(args, weights, data, kept, report)
    print(f"wrote {weights} ({weights.stat().st_size // 1024} KiB) and {manifest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
