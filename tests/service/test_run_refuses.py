"""`accord run` fails fast: a configuration error is refused before anything starts, with
one line naming the file and key (`accord check` makes the same checks alone); a second
service on the same state directory is refused and the first keeps serving; a child that
cannot start stops the service instead of crash-looping; `/readyz` says when the service
can decide a declaration."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from test_run import alive, descendants

from cli.runner import CRASH_LOOP, Child, CrashLoop, start_child
from store import free_port

pytestmark = pytest.mark.stack

BROKEN = Path(__file__).parents[1] / "rules" / "broken"


def clean_env(var_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "ACCORD_TOKENS_FILE", "ACCORD_AUDIT_KEY", "ACCORD_RULES_DIR")
    }
    env["ACCORD_VAR_DIR"] = str(var_dir)
    env["PYTHONWARNINGS"] = "ignore:You're running the worker with superuser"
    env.update(extra)
    return env


def accord(
    *args: str, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def pack_dir(tmp_path: Path, broken: str) -> Path:
    directory = tmp_path / "packs"
    directory.mkdir()
    shutil.copy(BROKEN / broken, directory / broken)
    return directory


def expected_words(broken: str) -> str:
    return (BROKEN / broken).read_text().splitlines()[0].removeprefix("# expect: ")


@pytest.mark.parametrize("broken", ["unknown-fact.yaml", "duplicate-rule-id.yaml"])
def test_run_refuses_a_broken_pack_with_one_line_and_starts_nothing(
    tmp_path: Path, broken: str
) -> None:
    """A pack with an unknown fact or a duplicate rule id: accord run exits 2 within
    seconds with one line naming the file and the key, and leaves no process and no
    embedded Redis behind."""
    env = clean_env(tmp_path / "var", ACCORD_RULES_DIR=str(pack_dir(tmp_path, broken)))
    started = time.monotonic()
    result = accord("run", "--port", str(free_port()), env=env)
    assert result.returncode == 2, result.stderr
    assert time.monotonic() - started < 30
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert broken in lines[0] and expected_words(broken) in lines[0]
    assert "Press Ctrl-C" not in result.stdout
    assert not (tmp_path / "var" / "redis").exists()  # no Redis was started


def test_run_refuses_a_bad_tokens_file(tmp_path: Path) -> None:
    """A tokens file whose submitter names no business number is refused in one line that
    names the file and the key; so is a setting that is not a number."""
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text(
        yaml.safe_dump({"tokens": [{"token": "x" * 20, "role": "admin"},
                                   {"token": "y" * 20, "role": "submitter"}]})
    )  # fmt: skip
    env = clean_env(tmp_path / "var", ACCORD_TOKENS_FILE=str(tokens))
    result = accord("run", "--port", str(free_port()), env=env)
    assert result.returncode == 2
    assert re.fullmatch(rf"accord: {re.escape(str(tokens))}: tokens\.1: .*business_number.*\n",
                        result.stderr), result.stderr  # fmt: skip
    env = clean_env(tmp_path / "var", ACCORD_SWEEP_AFTER="soon")
    result = accord("run", "--port", str(free_port()), env=env)
    assert (result.returncode, result.stderr) == (
        2,
        "accord: ACCORD_SWEEP_AFTER: 'soon' is not a whole number\n",
    )


def test_check_reports_every_check_and_refuses_what_run_refuses(tmp_path: Path) -> None:
    """accord check prints what each check found and exits 0; on a broken pack it exits 2
    with the loader's line, as accord run would."""
    env = clean_env(tmp_path / "var")
    result = accord("check", "--port", str(free_port()), env=env)
    assert result.returncode == 0, result.stderr
    for name in ("state", "packs", "tokens", "redis", "port"):
        assert re.search(rf"^{name}\s+\S", result.stdout, re.MULTILINE), result.stdout
    assert result.stdout.strip().endswith("configuration ok")
    env["ACCORD_RULES_DIR"] = str(pack_dir(tmp_path, "unknown-fact.yaml"))
    result = accord("check", env=env)
    assert result.returncode == 2
    assert "unknown-fact.yaml" in result.stderr and len(result.stderr.splitlines()) == 1


def test_check_refuses_a_redis_that_does_not_answer_and_a_port_in_use(tmp_path: Path) -> None:
    """REDIS_URL that nothing answers, and a port another process listens on, are each
    refused with a line naming the setting."""
    env = clean_env(tmp_path / "var", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    result = accord("check", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("accord: REDIS_URL: Redis does not take writes")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]
        result = accord("check", "--port", str(taken), env=clean_env(tmp_path / "var"))
    assert result.returncode == 2
    assert result.stderr.startswith(f"accord: --port {taken}: 127.0.0.1:{taken} is in use")


def test_a_second_run_on_the_same_state_directory_is_refused_and_the_first_serves_on(
    tmp_path: Path,
) -> None:
    """While one accord run serves, a second on the same var/ exits 2 within seconds
    naming the first (its pid and API), starts nothing, and leaves the first's files and
    service as they were."""
    port = free_port()
    env = clean_env(tmp_path / "var")
    with subprocess.Popen(
        [sys.executable, "-m", "cli.main", "run", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    ) as first:  # fmt: skip
        try:
            assert first.stdout is not None
            printed = ""
            deadline = time.monotonic() + 90
            while "Press Ctrl-C" not in printed and time.monotonic() < deadline:
                printed += first.stdout.readline()
            assert "Press Ctrl-C" in printed
            url_file = tmp_path / "var" / "redis" / "url"
            redis_url = url_file.read_text()
            before = descendants(first.pid)
            started = time.monotonic()
            second = accord("run", "--port", str(free_port()), env=env)
            assert second.returncode == 2
            assert time.monotonic() - started < 30
            assert f"pid {first.pid}, API http://127.0.0.1:{port}" in second.stderr
            assert "Redis" not in second.stdout
            assert url_file.read_text() == redis_url  # its files untouched
            assert descendants(first.pid) == before
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        finally:
            first.send_signal(signal.SIGINT)
            first.wait(timeout=60)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, text
    return float(found.group(1))


def test_readyz_is_503_until_a_worker_consumes_then_200(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The API alone answers /readyz 503 with the reason and no token, and /metrics shows
    the declaration it holds undecided ageing; once a real worker consumes, /readyz is 200
    and nothing is undecided, without the sweeper; /healthz stays liveness."""
    from conftest import make_stack
    from helpers import declaration

    stack = make_stack(redis_url, tmp_path_factory.mktemp("ready"))
    try:
        stack.start_api()
        answer = httpx.get(f"{stack.url}/readyz", timeout=5)
        assert answer.status_code == 503
        assert answer.json() == {"status": "not ready", "reason": "no worker is consuming"}
        assert httpx.get(f"{stack.url}/healthz", timeout=5).json()["status"] == "degraded"
        with stack.client() as client:
            assert client.post("/v1/declarations", json=declaration("ready-1")).status_code == 202
            time.sleep(1.1)
            text = client.get("/metrics").text
            assert metric(text, "accord_oldest_undecided_seconds") >= 1.0
            stack.start_worker(concurrency=1)
            answer = httpx.get(f"{stack.url}/readyz", timeout=5)
            assert (answer.status_code, answer.json()) == (200, {"status": "ready", "reason": None})
            assert client.get("/v1/declarations/ready-1", params={"wait": 20}).json()["status"] == (
                "decided"
            )
            text = client.get("/metrics").text
            assert metric(text, "accord_oldest_undecided_seconds") == 0
            assert metric(text, 'accord_requeued_total{by="sweeper"}') == 0
    finally:
        stack.stop()


def test_a_child_that_cannot_start_stops_the_supervisor_with_its_last_lines() -> None:
    """A child that dies right after each start is restarted with back-off, and after
    CRASH_LOOP deaths in a row the supervisor gives up, quoting the child's last lines."""
    script = "import sys; print('cannot bind: address in use', file=sys.stderr); sys.exit(3)"
    child = Child(
        "API", lambda: start_child([sys.executable, "-c", script], dict(os.environ), tailed=True)
    )
    child.launch()

    def supervise(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            child.tend(time.monotonic())
            time.sleep(0.05)

    with pytest.raises(CrashLoop) as raised:
        supervise(60)
    assert child.deaths == CRASH_LOOP
    assert child.restarts == CRASH_LOOP - 1
    message = str(raised.value)
    assert message.startswith(f"API died {CRASH_LOOP} times in a row")
    assert "cannot bind: address in use" in message
    assert child.process is not None and not alive(child.process.pid)


def test_check_refuses_a_current_pack_that_carries_its_own_rate_table(tmp_path: Path) -> None:
    """A newer version of CA-TAXES with an exchange-rate table of its own (rates are loaded
    data, a table only replays old verdicts) is refused before anything starts."""
    shipped = Path(__file__).parents[2] / "rules" / "packs" / "ca-taxes@2026.1.yaml"
    packs = tmp_path / "packs"
    packs.mkdir()
    text = shipped.read_text().replace('version: "2026.1"', 'version: "2099.1"')
    (packs / "ca-taxes-table.yaml").write_text(text)
    env = clean_env(tmp_path / "var", ACCORD_RULES_DIR=str(packs))
    result = accord("check", env=env)
    assert result.returncode == 2, result.stdout
    assert result.stderr == (
        "accord: currency conversion: CA: 0 packs convert values into CAD (none); exactly one "
        "must\n"
    )


def test_run_refuses_to_start_a_second_redis_on_an_append_only_file_in_use(tmp_path: Path) -> None:
    """An embedded Redis still running on var/redis (left by a run that was killed) is
    never joined by a second server on its append-only file: accord run exits 2 saying so,
    and the running server's files are untouched."""
    from store import EmbeddedRedis

    left_running = EmbeddedRedis(tmp_path / "var" / "redis").start()
    try:
        before = (tmp_path / "var" / "redis" / "url").read_text()
        result = accord("run", "--port", str(free_port()), env=clean_env(tmp_path / "var"))
        assert result.returncode == 2, result.stderr
        assert "another embedded Redis runs on this append-only file" in result.stderr
        assert (tmp_path / "var" / "redis" / "url").read_text() == before
        assert left_running.process is not None and left_running.process.poll() is None
    finally:
        left_running.stop()
