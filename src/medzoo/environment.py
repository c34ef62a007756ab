"""The machine and the code a run ran on, as run reports, provenance and results records say."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

_PACKAGE = Path(__file__).resolve().parent


def machine_description() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return (
        f"{platform.machine()}, {torch.get_num_threads()} torch threads, {device}, "
        f"torch {torch.__version__}"
    )


def cpu_model() -> str | None:
    """The CPU's model name (Linux ``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=_PACKAGE, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def code_version() -> dict[str, object]:
    """The medzoo commit this process runs (None outside a git checkout, e.g. a wheel) and
    whether its training code (``src/medzoo``, ``configs``) has uncommitted changes."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    top = _git("rev-parse", "--show-toplevel")
    status = _git("-C", top or ".", "status", "--porcelain", "--", "src/medzoo", "configs")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def provenance(command: str) -> dict[str, object]:
    """What made a run: the command, the code and the machine."""
    return {
        "command": command,
        "code": code_version(),
        "machine": machine_description(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
    }
