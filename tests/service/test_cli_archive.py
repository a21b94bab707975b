"""`accord archive` on the host where `accord run` started the embedded Redis finds that
Redis without REDIS_URL, as the README's command runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from store import EmbeddedRedis


def _archive(var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ACCORD_AUDIT_KEY")}
    env["ACCORD_VAR_DIR"] = str(var_dir)
    accord = Path(sys.executable).parent / "accord"
    return subprocess.run(
        [str(accord), "archive", "--older-than", "400", "--json"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_archive_finds_the_embedded_redis_that_accord_run_started(tmp_path: Path) -> None:
    """While the embedded Redis runs, `accord archive` uses it; once it stops, the command
    says there is no Redis to archive from, and exits 2."""
    var_dir = tmp_path / "var"
    redis = EmbeddedRedis(var_dir / "redis").start()
    try:
        done = _archive(var_dir)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert report["archived"] == 0
        assert report["archive_dir"] == str(var_dir / "archive")
    finally:
        redis.stop()
    done = _archive(var_dir)
    assert done.returncode == 2
    assert "no embedded Redis is running" in done.stderr
