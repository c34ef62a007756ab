"""Environment defaults that keep medzoo fast and quiet on machines without internet.

They are applied with ``setdefault`` so a user who is online can still opt back in, e.g.
``HF_HUB_OFFLINE=0 python -m medzoo.train ...``.
"""

from __future__ import annotations

import os

OFFLINE_DEFAULTS = {
    # albumentations checks PyPI for a newer version at import time; offline this warns
    # (and fails under ``-W error``).
    "NO_ALBUMENTATIONS_UPDATE": "1",
    # timm's hub download otherwise retries for ~47 s before failing when there is no network.
    "HF_HUB_OFFLINE": "1",
}


def apply_offline_defaults() -> None:
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)
