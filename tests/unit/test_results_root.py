"""Where `simtest run --resume RUN` writes: the results root is RUN minus the run key its manifest
records (a URI keeps its query, so the resumed run reaches the same endpoint), and what simtest
prints of a results URI carries no credentials."""

from __future__ import annotations

import os

import pytest

from simtest.core.errors import UsageError
from simtest.execution.store import _public_uri
from simtest.orchestrate import results_root

KEY = "pendulum-smoke/swingup@1.0/4164da68-5fd54201"


def test_a_local_run_directory_gives_the_directory_three_levels_up(tmp_path):
    assert results_root(str(tmp_path / "res" / KEY), KEY) == str(tmp_path / "res")
    assert results_root(str(tmp_path / "res" / KEY) + "/", KEY) == str(tmp_path / "res")


def test_a_relative_local_run_directory_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert results_root(f".simtest/results/{KEY}", KEY) == os.path.join(str(tmp_path), ".simtest", "results")


def test_a_uri_keeps_its_scheme_and_query():
    q = "endpoint_override=127.0.0.1:9000&scheme=http&region=us-east-1"
    assert results_root(f"s3://bucket/team/results/{KEY}?{q}", KEY) == f"s3://bucket/team/results?{q}"
    assert results_root(f"s3://bucket/results/{KEY}/", KEY) == "s3://bucket/results"
    assert results_root(f"s3://bucket/{KEY}", KEY) == "s3://bucket"


@pytest.mark.parametrize("moved", [f"/data/old/{KEY}-copy", "/data/pendulum-smoke/swingup@1.0",
                                   f"s3://bucket/x/{KEY}2?region=us-east-1", "s3://bucket/elsewhere"])
def test_a_moved_or_renamed_run_is_refused_not_resumed_elsewhere(moved):
    with pytest.raises(UsageError, match="moved or renamed"):
        results_root(moved, KEY)


def test_printed_uris_carry_no_credentials():
    uri, query = _public_uri("s3://AKID:s3cr3t@bucket/results?access_key=AKID&secret_key=s3cr3t"
                             "&session_token=t0k3n&endpoint_override=127.0.0.1:9000&scheme=http")
    assert uri == "s3://bucket/results"
    assert query == "access_key=***&secret_key=***&session_token=***&endpoint_override=127.0.0.1:9000&scheme=http"
    assert _public_uri("s3://bucket/results") == ("s3://bucket/results", "")


def test_a_local_results_location_that_cannot_be_written_is_exit_3_naming_it(tmp_path):
    import sys

    sys.path.insert(0, os.path.dirname(__file__))
    from test_store import MODEL

    from simtest.core.errors import StoreUnavailableError
    from simtest.execution.store import RunStore

    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailableError) as err:
        RunStore(str(blocker / "results")).open_run("suite", MODEL, "eb12345678")
    msg = str(err.value)
    assert err.value.exit_code == 3 and "\n" not in msg
    assert msg.startswith(f'results location "{blocker}/results/suite/toy@1.0/') and "cannot create" in msg
