"""The report of a `simtest search`: search.json (every episode and failure), summary.md (the
failures, simplest next to original, with their replay commands) and report.html with three
figures: the margin of every episode over the search, the best-so-far curve, and the proposals
over the two most influential parameters (exploration.search.influential_dims: largest |Spearman rho|).
Formats only what the wiring computed; matplotlib is imported inside the functions."""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any, Mapping

__all__ = ["write_search_report"]


def write_search_report(out_dir: str | Path, data: Mapping[str, Any]) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "search.json", "summary": out / "summary.md", "html": out / "report.html"}
    paths["json"].write_text(json.dumps(_jsonable(data), indent=1, sort_keys=True))
    paths["summary"].write_text(render_summary(data))
    png = _figure(data)
    body = ["<!doctype html><meta charset='utf-8'><title>simtest search</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}td,th{padding:2px 8px;"
            "border-bottom:1px solid #ddd;font-size:13px}code{font-size:12px}</style>",
            f"<h1>search: {html.escape(data['scenario'])} with {html.escape(data['model'])}</h1>",
            f"<p>{html.escape(_headline(data))}</p>"]
    if png:
        body.append(f"<img alt='margin over the search, best so far, proposals' style='max-width:100%' "
                    f"src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
    body.append(_failures_html(data))
    paths["html"].write_text("\n".join(body))
    return paths


def _headline(data: Mapping[str, Any]) -> str:
    n = len(data["history"])
    first = data.get("first_failure")
    distinct = sum(f["distinct"] for f in data["failures"])
    where = f"first failure at episode {first}" if first else "no failure found"
    return (f"{n} search episodes ({data['method']}, budget {data['budget']}) + {data.get('shrink_episodes', 0)} "
            f"shrinking episodes: {where}; {len(data['failures'])} failure(s) shrunk, {distinct} distinct")


def render_summary(data: Mapping[str, Any]) -> str:
    lines = [f"# simtest search: {data['scenario']} with {data['model']}", "", _headline(data), "",
             f"run: `{data['run']}`"]
    if data.get("corpus_files"):
        lines += ["", "corpus files written:"] + [f"- `{p}`" for p in data["corpus_files"]]
    for i, f in enumerate(data["failures"], 1):
        lines += ["", f"## failure {i}{'' if f['distinct'] else ' (not distinct: near an earlier one)'}", "",
                  "| parameter | original | simplest failing |", "|---|---|---|"]
        for k in sorted(f["params"]):
            mark = " **(mattered)**" if k in f["mattered"] else ""
            lines.append(f"| {k}{mark} | {_fmt(f['params'][k])} | {_fmt(f['shrunk_params'].get(k))} |")
        lines += [f"| margin | {_fmt(f['score'])} | {_fmt(f['shrunk_score'])} |", "",
                  f"replay the simplest: `{f['replay']}`", f"replay the original: `{f['replay_original']}`"]
    return "\n".join(lines) + "\n"


def _failures_html(data: Mapping[str, Any]) -> str:
    parts = ["<h2>failures</h2>"] if data["failures"] else ["<h2>no failures found</h2>"]
    for i, f in enumerate(data["failures"], 1):
        rows = "".join(f"<tr><td>{html.escape(k)}{' <b>(mattered)</b>' if k in f['mattered'] else ''}</td>"
                       f"<td>{html.escape(_fmt(f['params'][k]))}</td><td>{html.escape(_fmt(f['shrunk_params'].get(k)))}</td></tr>"
                       for k in sorted(f["params"]))
        parts.append(f"<h3>failure {i}{'' if f['distinct'] else ' (not distinct)'}</h3><table><tr><th>parameter</th>"
                     f"<th>original</th><th>simplest failing</th></tr>{rows}<tr><td>margin</td><td>{_fmt(f['score'])}</td>"
                     f"<td>{_fmt(f['shrunk_score'])}</td></tr></table><p><code>{html.escape(f['replay'])}</code></p>")
    return "\n".join(parts)


def _figure(data: Mapping[str, Any]) -> bytes | None:
    history = data["history"]
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = [h["score"] for h in history]
    xs = [h["index"] for h in history]
    finite = [(x, s) for x, s in zip(xs, scores) if s is not None and math.isfinite(s)]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    ax = axes[0]
    ax.scatter([x for x, _ in finite], [s for _, s in finite], s=10,
               c=["tab:red" if s <= 0 else "tab:blue" for _, s in finite])
    ax.axhline(0, color="k", lw=0.8)
    ax.set(title="margin of each episode", xlabel="episode", ylabel="margin (< 0 fails)")
    ax = axes[1]
    best, curve = math.inf, []
    for s in scores:
        if s is not None and math.isfinite(s):
            best = min(best, s)
        curve.append(best if math.isfinite(best) else float("nan"))
    ax.plot(xs, curve, drawstyle="steps-post")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(title="best margin so far", xlabel="episode", ylabel="margin")
    ax = axes[2]
    dims = list(data.get("influential") or [])  # computed by exploration.search
    if len(dims) == 2:
        u = data["units"]
        pts = [(u[i][dims[0]], u[i][dims[1]], s) for i, s in enumerate(scores) if s is not None and math.isfinite(s)]
        sc = ax.scatter([p[0] for p in pts], [p[1] for p in pts], c=[p[2] for p in pts], cmap="coolwarm_r", s=12)
        fails = [p for p in pts if p[2] <= 0]
        ax.scatter([p[0] for p in fails], [p[1] for p in fails], facecolors="none", edgecolors="k", s=40, label="failed")
        fig.colorbar(sc, ax=ax, label="margin")
        ax.set(title="proposals (unit scale)", xlabel=data["dims"][dims[0]], ylabel=data["dims"][dims[1]])
    else:
        ax.set_axis_off()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return _jsonable(v.item())
    return v
