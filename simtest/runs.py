"""`simtest runs`: what the results store holds (suite, model, provenance, size, age) and `runs gc`,
which removes old runs safely. Wiring: reads the store (execution) and formats a table."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["list_runs", "runs_gc"]


def _suite_name(suite: str | None) -> str | None:
    """A suite name, or the name inside a suite YAML file."""
    if suite and suite.endswith((".yaml", ".yml")) and Path(suite).is_file():
        from simtest.authoring.spec import load_suite

        return load_suite(suite).suite.name
    return suite


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _size(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n}B"


def _provenance(info) -> str:
    git = info.provenance.get("git") or {}
    ci = info.provenance.get("ci") or {}
    if not git and not ci:
        return "-"
    out = str(git.get("commit") or "?")[:10]
    out += f" {git.get('branch') or '(no branch)'}"
    if git.get("dirty"):
        out += " dirty"
    if ci.get("url"):
        out += f" {ci['url']}"
    return out


def _rows(results: str, suite: str | None, model: str | None):
    from simtest.execution.store import RunStore

    return RunStore(results).runs(suite=_suite_name(suite), model=model)


def list_runs(results: str, *, suite: str | None = None, model: str | None = None, as_json: bool = False) -> str:
    infos = _rows(results, suite, model)
    if as_json:
        return "\n".join(json.dumps({"path": i.location, "key": i.key, "suite": i.suite, "model": i.model,
                                     "digest": i.digest, "env_build": i.env_build, "created": i.created,
                                     "updated": i.updated, "rows": i.rows, "bytes": i.bytes, "chunks": i.chunks,
                                     "provenance": i.provenance, "writing": i.writing, "problem": i.problem},
                                    sort_keys=True) for i in infos)
    if not infos:
        what = " matching " + " and ".join(x for x in (f"suite {suite}" if suite else "",
                                                        f"model {model}" if model else "") if x) if suite or model else ""
        return f"no stored runs{what} in {results}"
    lines = [f"{'suite':<28} {'model':<26} {'rows':>6} {'size':>7} {'age':>6}  provenance / state"]
    for i in infos:
        state = f"PROBLEM: {i.problem}" if i.problem else _provenance(i)
        if i.writing:
            state += f"  [being written: {i.writing}]"
        lines.append(f"{i.suite[:28]:<28} {i.model[:26]:<26} {i.rows:>6} {_size(i.bytes):>7} {_age(i.age_s):>6}  {state}")
        lines.append(f"  {i.location}")
    lines.append(f"{len(infos)} run(s), {_size(sum(i.bytes for i in infos))} in {results}")
    return "\n".join(lines)


def runs_gc(results: str, *, keep: int, suite: str | None = None, model: str | None = None, dry_run: bool = False,
            grace_s: float = 3600.0) -> str:
    """Remove all but the newest `keep` runs of each (suite, model, branch). Never a run that a
    branch pointer names (the baseline PR gates read, docs/ci.md), nor one that is being written (a
    fresh writer lease or a held lock), nor one updated within `grace_s`, nor one whose manifest
    cannot be read (a person should look at it). A store that cannot be reached stops gc (exit 3)."""
    from simtest.core.errors import StoreError, StoreUnavailableError
    from simtest.execution.store import RunStore

    store = RunStore(results)
    infos = store.runs(suite=_suite_name(suite), model=model)
    pointed = store.pointed_keys()
    groups: dict[tuple, list] = {}
    for i in infos:  # newest first
        groups.setdefault((i.suite, i.model, i.branch), []).append(i)
    removed, kept_busy, freed = [], [], 0
    for members in groups.values():
        for i in members[keep:]:
            if i.problem or i.writing or i.age_s < grace_s or i.key in pointed:
                why = ("unreadable manifest" if i.problem else "being written" if i.writing else
                       "a branch's baseline" if i.key in pointed else "updated recently")
                kept_busy.append(f"kept {i.location} ({why})")
                continue
            if not dry_run:
                try:
                    store.delete(i)
                except StoreUnavailableError:
                    raise
                except StoreError as exc:
                    kept_busy.append(f"kept {i.location} ({exc})")
                    continue
            removed.append(f"{'would remove' if dry_run else 'removed'} {i.location} ({i.rows} rows, {_size(i.bytes)})")
            freed += i.bytes
    summary = (f"{'would free' if dry_run else 'freed'} {_size(freed)}: {len(removed)} run(s) "
               f"{'to remove' if dry_run else 'removed'}, {len(infos) - len(removed)} kept "
               f"(newest {keep} of each suite, model and branch)")
    return "\n".join(removed + kept_busy + [summary])
