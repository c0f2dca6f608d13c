"""Fixtures for the Verification API tests.

`verify_sdk_python`: the interpreter of `.venv-verify` (the repository root), a virtual
environment with the official `sinch` SDK 1.1.4 — created on first use with `pip` from the
package index, then reused. `sdk(...)` runs `sdk_driver.py` with it in a subprocess.
`vplatform`: a running platform (both profiles) whose API has the sandbox voice network.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tidings.testing.platform import Platform

from ...pipeline.conftest import fresh_postgres_url, platform_factory  # noqa: F401

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / ".venv-verify"
DRIVER = Path(__file__).with_name("sdk_driver.py")
SDK_VERSION = "1.1.4"


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def _sdk_installed(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('sinch'))"],
                           capture_output=True, text=True, check=False, timeout=60)
    return probe.returncode == 0 and probe.stdout.strip() == SDK_VERSION


@pytest.fixture(scope="session")
def verify_sdk_python() -> Path:
    python = _venv_python()
    if _sdk_installed(python):
        return python
    steps = [[sys.executable, "-m", "venv", str(VENV)],
             [str(python), "-m", "pip", "install", "--quiet", f"sinch=={SDK_VERSION}"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, check=False, timeout=600)
        if done.returncode != 0:
            pytest.fail(f"could not prepare {VENV} with sinch=={SDK_VERSION} (needs the package index): "
                        f"{' '.join(step)} -> {done.stderr.strip()[-2000:]}")
    if not _sdk_installed(python):
        pytest.fail(f"{VENV} has no sinch=={SDK_VERSION} after installing it")
    return python


class Sdk:
    def __init__(self, python: Path, base_url: str, key: str, secret: str) -> None:
        self.python = python
        self.origin = base_url.removeprefix("http://")
        self.key = key
        self.secret = secret

    async def run(self, *calls: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
        spec = json.dumps({"origin": self.origin, "key": self.key, "secret": self.secret,
                           "calls": [list(c) for c in calls]})
        proc = await asyncio.create_subprocess_exec(str(self.python), str(DRIVER), spec,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, err.decode()
        results: list[dict[str, Any]] = json.loads(out)
        return results

    async def one(self, name: str, **kwargs: Any) -> dict[str, Any]:
        return (await self.run((name, kwargs)))[0]


@pytest.fixture
async def vplatform(platform_factory: Any) -> AsyncIterator[Platform]:  # noqa: F811
    async with platform_factory() as p:
        # Embedded: the sandbox's own network; distributed: over HTTP (TIDINGS_VOICE_URL).
        assert p.ctx.voice is not None and p.ctx.fraud is not None
        yield p


@pytest.fixture
def sdk(verify_sdk_python: Path, vplatform: Platform) -> Sdk:
    return Sdk(verify_sdk_python, vplatform.base_url, vplatform.creds.application_key,
               vplatform.creds.application_secret)
