"""The results store on a real S3 API (moto's server on 127.0.0.1, conftest.py), driven the way
CI and a cluster drive it: `simtest run` in child processes writing to an `s3://` URI, this
process reading what they wrote. A cheap env (gymnasium's Pendulum-v1 with the hand-written agent
of examples/classic-control, 20 cases per run) keeps each child to a few seconds.

Covered: a run written by one process and read by another (exact cases and values, equal to the
same run on a local disk), `simtest compare` of two s3 runs, two concurrent drivers of different
runs, a driver killed (a) after publishing a chunk object but before the manifest lists it and
(b) halfway through writing a chunk object, then resumed; credentials and the endpoint from the
usual environment variables; an unreachable store (exit 3, one line); the server on loopback only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simtest.core.errors import StoreUnavailableError
from simtest.execution.store import MANIFEST, RunStore, open_run_path

HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[1] / "examples" / "classic-control"
CHILD = HERE / "child_driver.py"
SAMPLES = 10  # per scenario; 2 scenarios x 1 seed: 20 cases per run
CASES = 2 * SAMPLES
FLUSH = 4  # rows per chunk in the patched children: 5 chunks per run
VALUE_COLUMNS_IGNORED = {"wall_s"}  # the only column that differs between two runs of one case


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of examples/classic-control with a 20-case suite (its agent imports from there)."""
    folder = tmp_path_factory.mktemp("s3proj") / "classic-control"
    shutil.copytree(EXAMPLE, folder)
    suite = folder / "suite.yaml"
    text = suite.read_text()
    assert "samples: 100\n" in text
    suite.write_text(text.replace("samples: 100\n", f"samples: {SAMPLES}\n"))
    return folder


@pytest.fixture(scope="module")
def planned(project) -> list[str]:
    from simtest.authoring.sampling import plan
    from simtest.authoring.spec import load_suite

    ids = [c.case_id for c in plan(load_suite(str(project / "suite.yaml")))]
    assert len(ids) == len(set(ids)) == CASES
    return ids


def _env(base: dict, project: Path, **extra: str) -> dict:
    env = {k: v for k, v in base.items() if not k.startswith("SIMTEST_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join([str(project), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


def start(project: Path, args: list[str], env: dict, *, driver: bool = False) -> subprocess.Popen:
    cmd = [sys.executable, str(CHILD) if driver else "-m", *([] if driver else ["simtest.cli"]), *args]
    return subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, timeout: float = 120) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def simtest(project: Path, args: list[str], env: dict, **kw) -> subprocess.CompletedProcess:
    return finish(start(project, args, env, **kw))


def run_args(version: str, results: str) -> list[str]:
    return ["run", "--suite", "suite.yaml", "--model", f"swingup-{version}.yaml", "--results", results,
            "--executor", "local", "--quiet"]


def run_prefix(s3_server, bucket: str, version: str) -> str:
    """The one run of swingup@version in the bucket: `results/<suite>/<model>/<digest-build>`."""
    found = [k for k in s3_server.keys(bucket) if k.endswith(f"/{MANIFEST}") and f"/swingup@{version}/" in k]
    assert len(found) == 1, found
    return found[0][len(bucket) + 1: -len(MANIFEST) - 1]


def parquet_keys(s3_server, bucket: str, prefix: str) -> set[str]:
    return {k[len(bucket) + 1:] for k in s3_server.keys(bucket, prefix) if k.endswith(".parquet")}


def listed_chunks(run) -> set[str]:
    return {f"{run.path.split('/', 1)[1]}/{c.file}" for c in run.chunks}


def values(frame):
    """A run's rows, one per case, without the columns that legitimately differ between runs."""
    cols = sorted(set(frame.columns) - VALUE_COLUMNS_IGNORED)
    return frame[cols].sort_values("case_id").reset_index(drop=True)


def assert_same_rows(frame, reference) -> None:
    import pandas.testing as pdt

    pdt.assert_frame_equal(values(frame), values(reference), check_like=True)


@pytest.fixture(scope="module")
def reference(project, tmp_path_factory, s3_server):
    """swingup@1.0 on the local disk: what every s3 run of it must equal, row for row."""
    results = tmp_path_factory.mktemp("local-results")
    done = simtest(project, run_args("1.0", str(results)), _env(s3_server.env(), project))
    assert done.returncode == 0, done.stderr
    runs = list(results.glob(f"*/swingup@1.0/*/{MANIFEST}"))
    assert len(runs) == 1
    return open_run_path(str(runs[0].parent)).read()


@pytest.fixture(scope="module")
def two_runs(project, s3_server, tmp_path_factory):
    """swingup@1.0 and @1.1 written at the same time by two child drivers into one bucket and
    prefix; each waits for the other before its first chunk, so their writes interleave."""
    bucket = s3_server.make_bucket()
    uri = s3_server.uri(bucket)
    meet = tmp_path_factory.mktemp("barrier")
    procs = {v: start(project, run_args(v, uri),
                      _env(s3_server.env(), project, SIMTEST_TEST_FLUSH_ROWS=str(FLUSH),
                           SIMTEST_TEST_BARRIER=f"{meet}:{v}:{other}"), driver=True)
             for v, other in (("1.0", "1.1"), ("1.1", "1.0"))}
    done = {v: finish(p) for v, p in procs.items()}
    return bucket, done


# --------------------------------------------------------------------------- tests


def test_server_listens_on_loopback_only(s3_server):
    psutil = pytest.importorskip("psutil")
    procs = [psutil.Process(s3_server.process.pid)]
    procs += procs[0].children(recursive=True)
    listening = [c for p in procs for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening, "the S3 server listens on nothing?"
    assert {(c.laddr.ip, c.laddr.port) for c in listening} == {("127.0.0.1", s3_server.port)}


def test_two_concurrent_writers_of_different_runs(two_runs, s3_server, planned):
    bucket, done = two_runs
    for v, d in done.items():
        assert d.returncode == 0, (v, d.stderr)
        assert f"{CASES} episodes" in d.stdout and f"results in s3://{bucket}/results/" in d.stdout
    prefixes = {v: run_prefix(s3_server, bucket, v) for v in done}
    assert prefixes["1.0"] != prefixes["1.1"]
    for v, prefix in prefixes.items():
        run = open_run_path(s3_server.uri(bucket, prefix))
        frame = run.read()
        assert sorted(frame["case_id"]) == sorted(planned)
        assert set(frame["model_version"]) == {v}  # no row of the other driver
        assert [c.rows for c in run.chunks] == [FLUSH] * (CASES // FLUSH)  # every chunk of its own committed
        assert parquet_keys(s3_server, bucket, prefix) == listed_chunks(run)  # no stray or orphan object
    # the two models behave differently on at least one case: the rows are really each model's own
    a, b = (open_run_path(s3_server.uri(bucket, prefixes[v])).read().set_index("case_id") for v in ("1.0", "1.1"))
    assert (a.loc[planned, "metric_episode_return"] != b.loc[planned, "metric_episode_return"]).any()


def test_a_run_written_by_one_process_is_read_by_another(two_runs, s3_server, project, planned, reference):
    bucket, done = two_runs
    assert done["1.0"].returncode == 0, done["1.0"].stderr
    run = open_run_path(s3_server.uri(bucket, run_prefix(s3_server, bucket, "1.0")))
    frame = run.read()
    assert sorted(frame["case_id"]) == sorted(planned) and len(frame) == CASES
    assert_same_rows(frame, reference)  # every value equals the same run written to a local disk
    assert run.location == s3_server.uri(bucket, f"results/{run.key}")  # what --resume and compare accept
    case_id = planned[-1]
    replayed = simtest(project, ["replay", case_id, "--model", "swingup-1.0.yaml", "--run", run.location],
                       _env(s3_server.env(), project))
    assert replayed.returncode == 0, replayed.stderr
    assert f"case {case_id}: " in replayed.stdout and f"(run {run.location})" in replayed.stdout
    assert "IDENTICAL" in replayed.stdout  # the stored row, read back from the bucket, replays exactly


def test_compare_two_s3_runs(two_runs, s3_server, project, tmp_path):
    bucket, _ = two_runs
    cand, base = (s3_server.uri(bucket, run_prefix(s3_server, bucket, v)) for v in ("1.1", "1.0"))
    out = tmp_path / "report"
    done = simtest(project, ["compare", "--candidate", cand, "--baseline", base, "--out", str(out)],
                   _env(s3_server.env(), project))
    # @1.1 catches later and loses swing-ups (examples/classic-control): a regression, exit 1,
    # decided from the rows read back from the bucket (the same seeds every time: deterministic)
    assert done.returncode == 1, (done.stdout, done.stderr)
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["verdict"] == "fail"
    assert verdict["runs"] == {"candidate": cand, "baseline": base}
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kill", ["published", "torn"])
def test_killed_writer_leaves_only_committed_chunks_and_resume_completes(kill, s3_server, bucket, project,
                                                                         planned, reference):
    """The driver dies on its 3rd chunk: (published) the chunk object is in the bucket but the
    manifest does not list it; (torn) its output stream is open, half written. Readers see the 2
    committed chunks only; resuming (--resume, or the same command again) runs exactly the
    missing cases."""
    uri = s3_server.uri(bucket)
    killed = simtest(project, run_args("1.0", uri),
                     _env(s3_server.env(), project, SIMTEST_TEST_FLUSH_ROWS=str(FLUSH),
                          SIMTEST_TEST_KILL=f"{kill}:3"), driver=True)
    assert killed.returncode == -9, killed.stderr
    prefix = run_prefix(s3_server, bucket, "1.0")
    run = open_run_path(s3_server.uri(bucket, prefix))
    committed = 2 * FLUSH
    assert len(run.chunks) == 2
    frame = run.read()
    assert sorted(frame["case_id"]) == sorted(planned[:committed])  # the local executor runs in plan order
    assert run.problems == []
    objects = parquet_keys(s3_server, bucket, prefix)
    orphans = objects - listed_chunks(run)
    if kill == "published":
        assert len(orphans) == 1  # in the bucket, whole, but not part of the run
        import pyarrow.parquet as pq

        with s3_server.filesystem().open_input_file(f"{bucket}/{next(iter(orphans))}") as f:
            orphan_ids = pq.read_table(f).column("case_id").to_pylist()
        assert sorted(orphan_ids) == sorted(planned[committed:committed + FLUSH])
    else:
        assert orphans == set()  # an unfinished PUT leaves nothing visible

    # resumed both ways docs/cluster.md gives: `--resume <run URI>`, and the same command again
    again = (["run", "--resume", run.location, "--executor", "local", "--quiet"] if kill == "published"
             else run_args("1.0", uri))
    resumed = simtest(project, again, _env(s3_server.env(), project))
    assert resumed.returncode == 0, resumed.stderr
    assert f"{CASES} episodes" in resumed.stdout
    run.refresh()
    frame = run.read()
    assert sum(c.rows for c in run.chunks) == CASES  # no duplicate row stored
    assert sorted(frame["case_id"]) == sorted(planned)  # no lost case
    assert_same_rows(frame, reference)
    assert parquet_keys(s3_server, bucket, prefix) - listed_chunks(run) == orphans  # left, never read


def test_endpoint_and_credentials_from_environment_only(s3_server, bucket, monkeypatch):
    """What CI does: a plain s3://bucket/prefix, the endpoint in AWS_ENDPOINT_URL and the keys in
    AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (set by the s3_server fixture)."""
    sys.path.insert(0, str(HERE.parent / "unit"))
    from test_store import MODEL, result

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert os.environ[var]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{s3_server.endpoint}")
    store = RunStore(f"s3://{bucket}/plain")
    run = store.open_run("suite", MODEL, "eb12345678")
    assert run.append([result(i) for i in range(4)]) == 4
    assert run.location == f"s3://{bucket}/plain/{run.key}"
    assert f"{bucket}/plain/{run.key}/{MANIFEST}" in s3_server.keys(bucket)  # it went to this server
    assert sorted(open_run_path(run.location).read()["case_id"]) == sorted(result(i).case.case_id for i in range(4))
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{s3_server.endpoint}")
    assert len(open_run_path(run.location)) == 4


def test_missing_bucket_is_an_infrastructure_error(s3_server):
    sys.path.insert(0, str(HERE.parent / "unit"))
    from test_store import MODEL

    uri = s3_server.uri("simtest-no-such-bucket")
    with pytest.raises(StoreUnavailableError) as err:
        RunStore(uri).open_run("suite", MODEL, "eb12345678")
    msg = str(err.value)
    assert err.value.exit_code == 3 and "\n" not in msg
    assert msg.startswith('results location "s3://simtest-no-such-bucket/results/') and "bucket" in msg.lower()


def test_unreachable_store_exits_3_with_one_line(s3_server, project, monkeypatch, capsys):
    """`simtest run` in this process (a child would only add its start-up time; pyarrow's three
    retries take ~6 s either way): exit 3, one line on stderr naming the location, no traceback."""
    from simtest.cli import main

    closed = _closed_port()
    uri = f"s3://simtest-x/results?endpoint_override=127.0.0.1:{closed}&scheme=http&region=us-east-1"
    monkeypatch.chdir(project)
    assert main(run_args("1.0", uri)) == 3
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and out == "", (out, err)
    assert lines[0].startswith('simtest run: error: results location "s3://simtest-x/results/pendulum-smoke/')
    assert f"endpoint_override=127.0.0.1:{closed}" in lines[0] and "Could not connect" in lines[0]


def _closed_port() -> int:
    import socket

    with socket.socket() as s:  # bound, never listening: connections to it are refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
