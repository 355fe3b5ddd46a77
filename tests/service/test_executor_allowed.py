"""Who may send a probe's trainings and products off the server's machine (issue 18's executors).

A client of `traindoc serve` could otherwise make the server connect to any Ray cluster it names
(`"executor": "ray://somewhere:10001"`). The server allows only `local` unless its operator says
more (`--allow-executor`); the embedded server of one user's own TUI allows any. Ground truth: the
rule as stated here, checked against a real `traindoc serve` on loopback and a real `traindoc serve`
start-up for the operator's flag.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from assistant.api.probe_jobs import _check_executor
from assistant.errors import InputError
from tests.service.conftest import new_session


@pytest.mark.parametrize(
    ("probe", "options", "field"),
    [
        ("depth", {"executor": "ray"}, "options.executor"),
        ("depth", {"executor": "ray://10.0.0.1:10001"}, "options.executor"),
        ("curvature", {"executor": "ray"}, "options.executor"),
        ("auto", {"depth": {"executor": "ray"}}, "options.depth.executor"),
    ],
)
def test_a_default_server_refuses_executors_off_its_machine(
    http: httpx.Client, probe: str, options: dict, field: str
) -> None:
    sid = new_session(http, setup="quick")
    r = http.post(f"/sessions/{sid}/jobs", json={"probe": probe, "options": options})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == field
    assert "--allow-executor" in error["message"] and "\n" not in error["message"]
    assert http.get(f"/sessions/{sid}/jobs").json() == []  # nothing queued


def test_what_the_operator_allows_passes() -> None:
    _check_executor({"executor": "local"}, ["local"])
    _check_executor({"executor": "ray"}, ["local", "ray"])
    _check_executor({"depth": {"executor": "ray://h:1"}}, ["*"])
    with pytest.raises(InputError):
        _check_executor({"executor": "ray://h:1"}, ["local", "ray"])  # an address is allowed by name


def test_serve_refuses_a_bad_allowed_executor_in_one_line(tmp_path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "assistant",
            "serve",
            "--db",
            str(tmp_path / "s.db"),
            "--allow-executor",
            "rai",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "executor" in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_the_config_file_allows_executors(tmp_path) -> None:
    from assistant.api.settings import build_settings, load_config

    (tmp_path / "traindoc.toml").write_text('executors = ["local", "ray"]\n', encoding="utf-8")
    assert build_settings(**load_config(tmp_path / "traindoc.toml")).executors == ["local", "ray"]
    (tmp_path / "bad.toml").write_text('executors = ["rai"]\n', encoding="utf-8")
    with pytest.raises(InputError, match="executor"):
        build_settings(**load_config(tmp_path / "bad.toml"))
