"""The machine a run ran on, as run reports and the reproduction header record it."""

from __future__ import annotations

import platform

import torch


def machine_description() -> str:
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    return (
        f"{platform.machine()}, {torch.get_num_threads()} torch threads, {device}, "
        f"torch {torch.__version__}"
    )
