"""`traindoc` with no subcommand: argument errors are one line and exit 2, before any screen."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from assistant.cli.tui_entry import build_client
from assistant.client import TraindocClient
from assistant.errors import AuthError, InputError
from tests.conftest import assert_one_line_error, run_cli
from tests.tui.conftest import idle, ready
from tui import TraindocApp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unknown_demo(tmp_path: Path) -> None:
    run = run_cli("--demo", "no_such_demo", env={"TRAINDOC_HOME": str(tmp_path)})
    assert_one_line_error(run, "unknown demo 'no_such_demo'", "overfitting")


def test_setup_and_demo_together(tmp_path: Path) -> None:
    run = run_cli("--demo", "overfitting", "--setup", "x.py:f", env={"TRAINDOC_HOME": str(tmp_path)})
    assert_one_line_error(run, "either --setup or --demo")


def test_missing_setup_file(tmp_path: Path) -> None:
    run = run_cli("--setup", "missing_file.py:build", env={"TRAINDOC_HOME": str(tmp_path)})
    assert_one_line_error(run, "setup file not found", "missing_file.py")


def test_missing_history(tmp_path: Path) -> None:
    run = run_cli("--history", str(tmp_path / "nothing-here"), env={"TRAINDOC_HOME": str(tmp_path)})
    assert_one_line_error(run, "history not found")


def test_unreachable_server(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    run = run_cli("--server", url, env={"TRAINDOC_HOME": str(tmp_path)})
    assert_one_line_error(run, "cannot reach the traindoc service", url)


def test_demo_with_a_server_is_refused(tmp_path: Path) -> None:
    run = run_cli(
        "--server", "http://127.0.0.1:9", "--demo", "overfitting", env={"TRAINDOC_HOME": str(tmp_path)}
    )
    assert_one_line_error(run, "--demo runs locally")


def test_resume_takes_a_session_id(tmp_path: Path) -> None:
    # `--resume ID` parses; an ID the service does not hold is refused in one line before the screen
    run = run_cli("--resume", "0123abcd", env={"TRAINDOC_HOME": str(tmp_path)})
    assert_one_line_error(run, "0123abcd")  # no such session: said before the screen opens


def test_not_a_terminal(tmp_path: Path) -> None:
    run = run_cli(env={"TRAINDOC_HOME": str(tmp_path)})
    assert_one_line_error(run, "needs a terminal", "traindoc diagnose")


def test_the_tui_package_never_imports_torch_the_engine_or_session_internals() -> None:
    code = textwrap.dedent(
        """
        import sys
        import tui, tui.app, tui.screens.chat, tui.conversation, tui.export, tui.live
        bad = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "durable")
                     or m in ("assistant.session", "assistant.engine", "assistant.dialogue"))
        print(",".join(bad))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# -- --server: the same app on a remote service ---------------------------------------------------


def _args(**kw: object) -> argparse.Namespace:
    base = {"server": None, "token": None, "setup": None, "demo": None, "history": None, "resume": False}
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real service on a loopback port with a token and a registered setup named `gpu`."""
    server_side = TraindocClient.embedded(setups={"gpu": "demo:saddle_point"}, db_path=str(tmp_path / "s.db"))
    token = server_side._http.headers["Authorization"].removeprefix("Bearer ")
    yield server_side.base_url, token
    server_side.close()


def test_remote_setup_names_are_checked(remote: tuple[str, str]) -> None:
    url, token = remote
    with pytest.raises(InputError, match=r"setup 'nope' is not registered on the server \(registered: gpu\)"):
        build_client(_args(server=url, token=token, setup="nope"))


def test_remote_wrong_token_is_refused(remote: tuple[str, str]) -> None:
    url, _ = remote
    with pytest.raises(AuthError):
        build_client(_args(server=url, token="x" * 32, setup="gpu"))


async def test_the_app_works_against_a_remote_service(remote: tuple[str, str], home: Path) -> None:
    url, token = remote
    client, setup, history, label = build_client(_args(server=url, token=token, setup="gpu"))
    try:
        assert (setup, history, label) == ("gpu", None, "gpu")
        app = TraindocApp(client, setup=setup, history=history, label=label)
        async with app.run_test(size=(100, 40)) as pilot:
            await ready(pilot)
            assert app.conversation.sources.setup == "gpu"  # measuring is offered
            await pilot.press("y")
            await idle(pilot)
            assert app.chat.current is not None and app.chat.current.id == "deeper_model_worse"
        assert (
            client.get_session(app.conversation.session_id).report.answers["train_loss_large"].value == "yes"
        )  # type: ignore[arg-type]
    finally:
        client.close()
