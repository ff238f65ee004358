"""The app URLs of a feature repo, for ``FeatureStore.from_repo``."""

from __future__ import annotations

import json
import os
import re
from typing import Any, Optional

from .errors import FeaturelogError

__all__ = ["app_urls_of_repo"]

_DEFAULT_PORTS = {"registry": 6570, "jobs": 6573, "serving": 6574}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _dev_urls(repo: str) -> Optional[dict[str, str]]:
    """The URLs of a ``featurelog dev`` running on the repo (its ``.featurelog/dev.json``)."""
    data_dir = os.environ.get("FEATURELOG_DATA_DIR") or ".featurelog"
    path = os.path.join(repo, data_dir, "dev.json")
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    urls = record.get("urls") or {}
    if not _pid_alive(record.get("pid")) or not all(isinstance(urls.get(app), str) for app in _DEFAULT_PORTS):
        return None
    return {app: urls[app] for app in _DEFAULT_PORTS}


def _apps_block(config_path: str) -> dict[str, Any]:
    with open(config_path, encoding="utf-8") as handle:
        text = handle.read()
    # Without an uncommented top-level `apps:` every app is on its default port: no YAML needed.
    if not re.search(r"^apps\s*:", text, flags=re.MULTILINE):
        return {}
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        raise FeaturelogError(
            "YAML_NEEDED",
            f"{config_path} has an apps block; reading it needs PyYAML (pip install 'featurelog[yaml]'), or use "
            "FeatureStore.from_env() with FEATURELOG_SERVING_URL / FEATURELOG_REGISTRY_URL / FEATURELOG_JOBS_URL",
        ) from None
    config = yaml.safe_load(text) or {}
    apps = config.get("apps") or {}
    return apps if isinstance(apps, dict) else {}


def _expand(value: Any) -> str:
    """``${VAR}`` / ``${VAR:-default}`` as featurelog.yaml writes them."""
    text = str(value)
    return re.sub(
        r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}",
        lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""),
        text,
    )


def app_urls_of_repo(repo: str) -> dict[str, str]:
    """``{"serving", "registry", "jobs"}`` → base URL, for the repo at ``repo``."""
    running = _dev_urls(repo)
    if running is not None:
        return running
    config_path = os.path.join(repo, "featurelog.yaml")
    if not os.path.exists(config_path):
        raise FeaturelogError("REPO_NOT_FOUND", f"{repo} has no featurelog.yaml")
    apps = _apps_block(config_path)
    urls: dict[str, str] = {}
    for app, default_port in _DEFAULT_PORTS.items():
        block = apps.get(app) or {}
        env = app.upper()
        host = os.environ.get(f"FEATURELOG_{env}_HOST") or _expand(block.get("host", "127.0.0.1"))
        port = os.environ.get(f"FEATURELOG_{env}_PORT") or _expand(block.get("port", default_port))
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"  # listening on every interface: reach it on this machine
        urls[app] = f"http://{'[' + host + ']' if ':' in host else host}:{int(port)}"
    return urls
