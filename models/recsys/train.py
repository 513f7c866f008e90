"""Train (or, for the hand-set reference, write) a `recsys-ranker` version from simulator logs and
write its weights and manifest. Reproducible from --seed: same seed, same weights, bit for bit.

    python -m simtest_models.recsys.train --version 1.1 [--seed 0] [--episodes 1500] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path
from typing import Any

import yaml

__all__ = ["RECIPES", "train", "main"]

HERE = Path(__file__).resolve().parent

# What each version is: how its weights are made (training objective) and how it ranks (options).
RECIPES: dict[str, dict[str, Any]] = {
    "1.0": {
        "architecture": "linear", "objective": "handset",
        "options": {"architecture": "linear", "hidden": 0, "objective": "click", "diversity": 0.0, "exploration": 0.0},
        "trained_on": "nothing: hand-set weights (popularity with light personalisation)",
        "notes": "Pinned reference. Click logit = 3 * popularity + 1 * history_relative - 4 * consumed - 2; no "
                 "quality, fatigue or diversity awareness.",
    },
    "1.1": {
        "architecture": "mlp", "objective": "engagement",
        "options": {"architecture": "mlp", "hidden": 32, "objective": "engagement", "diversity": 0.3, "exploration": 0.0},
        "notes": "Trained on click and engagement labels; ranks by P(click) * E[engagement | click] with diversity "
                 "re-ranking (0.3): trades some click-through for engagement, retention and diversity.",
    },
    "1.2": {
        "architecture": "mlp", "objective": "click",
        "options": {"architecture": "mlp", "hidden": 32, "objective": "click", "diversity": 0.0, "exploration": 0.0},
        "notes": "Candidate that chases immediate clicks: trained on click labels only, ranks by P(click), diversity "
                 "re-ranking removed. Expected: higher click-through, lower total engagement, retention, "
                 "diversity and satisfaction (users get bored of one topic and of click-bait, then churn).",
    },
}


def handset_state() -> dict:
    import torch

    from simtest_models.recsys.features import FEATURES

    w = torch.zeros(1, len(FEATURES))
    w[0, FEATURES.index("popularity")] = 3.0
    w[0, FEATURES.index("history_relative")] = 1.0
    w[0, FEATURES.index("consumed")] = -4.0
    return {"click.weight": w, "click.bias": torch.tensor([-2.0])}


def train(version: str, *, seed: int = 0, episodes: int = 1500, epochs: int = 6, log: Any = print) -> dict:
    """The state_dict of `version`, trained from `episodes` logged sessions."""
    import torch
    import torch.nn.functional as F

    from simtest_models.recsys.logs import collect
    from simtest_models.recsys.ranker import build

    recipe = RECIPES[version]
    if recipe["objective"] == "handset":
        return handset_state()
    torch.manual_seed(seed)
    torch.set_num_threads(1)  # bit-for-bit reproducible reductions
    t0 = time.perf_counter()
    logs = collect(episodes, seed)
    log(f"logged {logs.episodes} sessions, {logs.steps} steps, {len(logs.clicked)} impressions, "
        f"{int(logs.clicked.sum())} clicks in {time.perf_counter() - t0:.1f} s")
    net = build(recipe["architecture"], recipe["options"]["hidden"])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    x = torch.from_numpy(logs.features)
    y = torch.from_numpy(logs.clicked)
    e = torch.from_numpy(logs.engagement)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for start in range(0, len(x), 1024):
            b = perm[start:start + 1024]
            click_logit, engage_logit = net(x[b])
            loss = F.binary_cross_entropy_with_logits(click_logit, y[b])
            if recipe["objective"] == "engagement":
                m = y[b] > 0
                if m.any():
                    loss = loss + F.binary_cross_entropy_with_logits(engage_logit[m], e[b][m])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(x):.4f}")
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def write_version(version: str, state: dict, out: Path, *, seed: int, episodes: int, epochs: int) -> Path:
    import torch

    recipe = RECIPES[version]
    out.mkdir(parents=True, exist_ok=True)
    weights = out / f"recsys-ranker-{version}.pt"
    torch.save(state, weights)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    handset = recipe["objective"] == "handset"
    manifest = {
        "name": "recsys-ranker",
        "version": version,
        "entry_point": "simtest_models.recsys.agent:make_agent",
        "weights": weights.name,
        "sha256": digest,
        "options": recipe["options"],
        "trained_on": recipe.get("trained_on") or (
            f"{episodes} simulated sessions of simtest/RecsysSession-v0 (all cohorts, varied parameters) "
            f"logged under a Plackett-Luce popularity/history policy; labels: "
            f"{'clicks and engagement' if recipe['objective'] == 'engagement' else 'clicks only'}; seed {seed}"),
        "training": {
            "command": f"python -m simtest_models.recsys.train --version {version}"
                       + ("" if handset else f" --seed {seed} --episodes {episodes} --epochs {epochs}"),
            "seed": seed,
            "objective": recipe["objective"],
        },
        "notes": recipe["notes"],
    }
    path = out / f"recsys-ranker-{version}.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False, width=100), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simtest_models.recsys.train", description=__doc__.splitlines()[0])
    ap.add_argument("--version", choices=sorted(RECIPES), action="append",
                    help="version(s) to build (repeatable; default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=1500)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--out", type=Path, default=HERE, help="directory for weights and manifests (default: next to this file)")
    args = ap.parse_args(argv)
    for version in args.version or sorted(RECIPES):
        t0 = time.perf_counter()
        state = train(version, seed=args.seed, episodes=args.episodes, epochs=args.epochs)
        path = write_version(version, state, args.out, seed=args.seed, episodes=args.episodes, epochs=args.epochs)
        print(f"recsys-ranker@{version}: wrote {path} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
