"""The gate's reports. `write_reports` turns a Verdict and the result frames into
summary.md (pull-request comment), verdict.json, junit.xml and a self-contained report.html.
matplotlib and imageio are imported only by the figure and video modules, when used."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

__all__ = ["write_reports", "verdict_document"]

FILES = {"summary": "summary.md", "verdict": "verdict.json", "junit": "junit.xml", "html": "report.html"}


def write_reports(out_dir: str | Path, verdict: Any, frames: Mapping[str, Any] | None,
                  context: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write the gate's reports into `out_dir` (created if missing); return {name: path}.

    `verdict`: a `simtest.judging.compare.Verdict` (verdict, checks, reasons, infra, new_failures,
    scenario_changes, to_json()) with its `findings` (simtest.judging.findings: regions, coverage,
    metric kinds, invalid runs, outcome counts). The report formats these; it computes no decision,
    rule, region or rate. `frames`: {"candidate"|"baseline"|"reference": results DataFrame}, optional,
    used only to look up stored rows (new failures' parameters, episodes to replay). `context`
    (every key optional):

    - `models`: {role: "name@version"}; `runs`: {role: run directory}; `suite`: suite path;
      `stored`: {role: "the stored run of commit ... on main"} for roles read, not run (docs/ci.md)
    - `replay_command`: fn(case_id) -> the one-line command that replays a candidate case
    - `metrics`: {name: declaration with kind/unit} (used when the verdict carries no findings)
    - `key_metric` (default `success` or the first blocking binary metric), `headline_metrics`
      (history figure)
    - `history`: [{"model": "name@version", "metrics": {name: mean}}, ...] older versions, oldest first
    - `videos`: how many GIFs of the worst new failures to render (default 0: no simulation, as
      `simtest compare` promises); needs `model_refs` {"candidate": ModelRef} and optionally `cases`
      (the Case objects, else rebuilt from the stored rows)
    - `title`: the HTML page title

    Returns keys "summary", "verdict", "junit", "html" and "video:<case_id>" per GIF written.
    verdict.json holds no timestamps, so re-running compare on the same runs gives the same file.
    """
    from simtest.report import _data
    from simtest.report.junit import render_junit
    from simtest.report.markdown import render_summary

    context = dict(context or {})
    frames = {k: v for k, v in dict(frames or {}).items() if v is not None}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    d = _data.build(verdict, frames, context)
    paths = {name: out / fname for name, fname in FILES.items()}

    doc = verdict_document(verdict, context)
    paths["verdict"].write_text(json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    paths["junit"].write_text(render_junit(d), encoding="utf-8")
    links = {"report.html": FILES["html"], "verdict.json": FILES["verdict"], "junit.xml": FILES["junit"]}
    paths["summary"].write_text(render_summary(d, links), encoding="utf-8")

    gifs, notes = _videos(out, d, frames, context)
    for cid, p in gifs.items():
        paths[f"video:{cid}"] = p
    from simtest.report.html import render_html

    figures = _figures(d, frames, context)
    html = render_html(d, figures, {cid: p.read_bytes() for cid, p in gifs.items()}, notes,
                       title=str(context.get("title") or "simtest gate report"))
    paths["html"].write_text(html, encoding="utf-8")
    return paths


def verdict_document(verdict: Any, context: Mapping[str, Any]) -> dict:
    """verdict.to_json() plus model labels, run directories and the suite: no timestamps."""
    raw = verdict.to_json() if hasattr(verdict, "to_json") else verdict
    doc = json.loads(raw) if isinstance(raw, (str, bytes)) else dict(raw)
    findings = getattr(verdict, "findings", None) if not isinstance(verdict, Mapping) else verdict.get("findings")
    if findings is not None and "findings" not in doc:
        doc["findings"] = findings.to_json() if hasattr(findings, "to_json") else findings
    extra = {"models": context.get("models"), "runs": context.get("runs"), "suite": context.get("suite")}
    for key, value in extra.items():
        if value is not None and key not in doc:
            doc[key] = {k: str(v) for k, v in value.items()} if isinstance(value, Mapping) else str(value)
    return _finite(doc)


def _finite(v: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {str(k): _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if hasattr(v, "item") and callable(v.item):  # numpy scalars
        return _finite(v.item())
    return v


def _figures(d: Any, frames: Mapping[str, Any], context: Mapping[str, Any]) -> list:
    from simtest.report import plots
    from simtest.report.html import Figure

    coverage_png = plots.coverage_heatmap

    figs = []
    for i, m in enumerate(plots.forest_metrics(d)):
        figs.append(Figure(
            f"forest-{i}", f"Regression per slice: {m}",
            "Point = paired regression Δ (positive = candidate worse), bar = one-sided bounds [L, U], "
            "tick = the non-inferiority margin of that slice and comparison. Pass if U < margin; fail if "
            "L ≥ margin (safety metrics: L > 0); otherwise undecided. Hollow = too few cases to judge.",
            plots.forest_plot(d, m)))
    figs.append(Figure(
        "rates", f"{d.key_metric or 'key metric'} per slice and episode outcomes",
        "Reference, baseline and candidate on the same cases; outcomes per version (timeouts and env errors "
        "are infrastructure, agent errors count against the model).",
        plots.slice_rates_plot(d), missing="no per-slice values for the key metric"))
    cov = d.coverage
    if cov is not None:
        for k, gi in enumerate(cov.highlights):
            g = cov.grids[gi]
            figs.append(Figure(
                f"coverage-{k}", f"{cov.metric} over {g.x} × {g.y} ({g.scenario})",
                "Pairwise coverage with outcomes: rate per cell for baseline and candidate and their difference "
                "(n = cases in the cell; hatched = no case visited it). Chosen by the judging layer where the "
                "candidate's change varies most between cells.", coverage_png(d, g)))
    else:
        figs.append(Figure("coverage-0", "Coverage heatmap", "", None,
                           missing="no coverage in the verdict (the suite's parameter space was not given)"))
    metrics = plots.headline_metrics(d, context.get("headline_metrics"))
    points = plots.history_points(d, metrics, context.get("history") or ())
    figs.append(Figure(
        "history", "Headline metrics across model versions",
        "Suite means per version, oldest first; the candidate is the last point.",
        plots.history_plot(d, points, metrics), missing="needs at least two model versions"))
    return figs


def _videos(out: Path, d: Any, frames: Mapping[str, Any], context: Mapping[str, Any]) -> tuple[dict[str, Path], list[str]]:
    """GIFs of the worst new failures (the caller chooses how many; 0 means none)."""
    want = int(context.get("videos") or 0)
    model = (context.get("model_refs") or {}).get("candidate")
    if want <= 0 or not d.failures:
        return {}, []
    if model is None:
        return {}, ["failure videos skipped: no candidate model reference was given"]
    from simtest.report.videos import render_failure_gif

    cases = context.get("cases") or ()
    by_id = dict(cases) if isinstance(cases, Mapping) else {c.case_id: c for c in cases}
    cand = frames.get("candidate")
    gifs: dict[str, Path] = {}
    notes: list[str] = []
    for f in d.failures[:want]:
        row = _row(cand, f.case_id)
        case = by_id.get(f.case_id) or (_case_from_row(row) if row is not None else None)
        if case is None:
            notes.append(f"no video for {f.case_id}: the case is not in the candidate run")
            continue
        try:
            r = render_failure_gif(case, model, out / "failures" / f"{f.case_id}.gif")
        except Exception as exc:  # noqa: BLE001 - a video is a convenience; the verdict stands without it
            notes.append(f"no video for {f.case_id}: {type(exc).__name__}: {exc}")
            continue
        gifs[f.case_id] = r.path
        stored = str(row.get("trace_digest") or "") if row is not None else ""
        replayed = str(getattr(r.result, "trace_digest", "") or "")
        if stored and replayed and replayed != stored:
            notes.append(f"replay of {f.case_id} diverged from the stored episode (trace digest "
                         f"{replayed} != {stored}): check determinism")
    return gifs, notes


def _row(frame: Any, case_id: str) -> dict | None:
    if frame is None or "case_id" not in frame.columns:
        return None
    sub = frame[frame["case_id"].astype(str) == case_id]
    return sub.iloc[-1].to_dict() if len(sub) else None


def _case_from_row(row: dict) -> Any:
    from simtest.contract.results import case_from_row

    # The stored episode ran `steps` control steps: replaying that many reproduces it to its end.
    return case_from_row(row, horizon=max(int(row.get("steps") or 1), 1))
