"""Run the featurelog CLI and a `featurelog dev` of a feature repo from the client benches.

The CLI is this checkout's compiled bin/featurelog.js when dist/ exists (what a user runs; `npm run build`),
else its sources through @swc-node/register (seconds more per command: the export baseline then pays them,
so build first when measuring); `--featurelog <command>` or BENCH_FEATURELOG overrides both.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules" / ".bin" / "node"
APPS = {"registry": 0, "jobs": 3, "serving": 4}
BASE_PORT = 6570


def featurelog_command(override: str | None = None) -> list[str]:
    override = override or os.environ.get("BENCH_FEATURELOG")
    if override:
        return shlex.split(override)
    if (ROOT / "dist" / "apps" / "cli" / "src" / "main.js").exists():
        return [str(NODE), str(ROOT / "bin" / "featurelog.js")]
    # By path: the commands run in the feature repo, where `-r @swc-node/register` would not resolve.
    register = ROOT / "node_modules" / "@swc-node" / "register" / "index.js"
    return [str(NODE), "-r", str(register), str(ROOT / "apps" / "cli" / "src" / "main.ts")]


def run_cli(command: list[str], args: list[str], repo: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [*command, *args],
        cwd=repo,
        env={**os.environ, "SWC_NODE_PROJECT": str(ROOT / "tsconfig.json"), **(env or {})},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"featurelog {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


class Dev:
    """`featurelog dev --port-offset N` of a repo, in a child process (its own process group)."""

    def __init__(self, command: list[str], repo: Path, port_offset: int, log: Path) -> None:
        self.repo = repo
        self.urls = {app: f"http://127.0.0.1:{BASE_PORT + port + port_offset}" for app, port in APPS.items()}
        self._log = open(log, "w")
        self.process = subprocess.Popen(
            [*command, "dev", "--port-offset", str(port_offset)],
            cwd=repo,
            env={**os.environ, "SWC_NODE_PROJECT": str(ROOT / "tsconfig.json")},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        # Healthy answers count only while our process lives: another dev on these ports would answer too.
        while self.process.poll() is not None or not self._healthy():
            if self.process.poll() is not None:
                raise RuntimeError(f"featurelog dev exited ({self.process.returncode}); see {log}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"featurelog dev not healthy within 120 s; see {log}")
            time.sleep(0.5)

    def _healthy(self) -> bool:
        try:
            for url in self.urls.values():
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if json.load(response).get("status") != "ok":
                        return False
            return True
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()

    def __enter__(self) -> "Dev":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def free_port_offset(start: int = 400, stop: int = 2000, step: int = 10) -> int:
    """A --port-offset whose ports (dev's 6569 to ui's 6575, shifted) nobody listens on: other helpers'
    and the lead's `featurelog dev` runs share this machine."""
    for offset in range(start, stop, step):
        ports = range(BASE_PORT - 1 + offset, BASE_PORT + 6 + offset)
        if all(_free(port) for port in ports):
            return offset
    raise RuntimeError(f"no free port offset between {start} and {stop}")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPU(s), load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
