"""``python -m medzoo.anonymize input=<folder> output=<new folder> linkage=<new .csv>``.

Blacks out burnt-in text and overlays (``medzoo.data.burnt_in``) in every image under
``input`` and writes the masked copies, named by random anonymous ids, to ``output`` (a folder
that must not exist yet). The table linking each original path to its id goes to ``linkage``,
kept apart from the images: whoever receives ``output`` cannot link back without it. The input
is only read; nothing existing is ever written over. Masked images are written as PNG, so no
metadata of the originals travels with them.

``python -m medzoo.anonymize measure=50`` instead measures the masking on 50 synthetic frames
with rendered names, IDs, dates and calipers at known pixels.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import cv2
import hydra
import numpy as np
import pandas as pd
from omegaconf import DictConfig

from medzoo.commands import UsageError, user_errors
from medzoo.data.burnt_in import masked, masking_figures, overlay_mask, synthetic_frame
from medzoo.data.images import read_image
from medzoo.paths import config_dir
from medzoo.reporting.report import markdown_table
from medzoo.video.stream import list_images


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def check_destinations(source: Path, output: Path, linkage: Path) -> None:
    """Refuse anything that could overwrite or mix with the originals or an earlier run."""
    if output.exists():
        raise FileExistsError(f"output {output} exists; name a new folder (nothing is overwritten)")
    if linkage.exists():
        raise FileExistsError(f"linkage table {linkage} exists; name a new file")
    if _inside(output, source) or _inside(source, output):
        raise UsageError(f"output {output} must lie outside the input {source}")
    if _inside(linkage, output) or _inside(linkage, source):
        raise UsageError(
            f"linkage {linkage} must lie outside both the input and the output folder: "
            "the table re-identifies the images"
        )


def anonymize_folder(input_path: str, output: str, linkage: str, **settings) -> pd.DataFrame:
    source = Path(input_path).expanduser().resolve()
    out, table = Path(output).expanduser().resolve(), Path(linkage).expanduser().resolve()
    base, images = list_images(source)
    check_destinations(base, out, table)
    out.mkdir(parents=True)
    rows, used = [], set()
    for path in images:
        image = read_image(path, 3)
        mask = overlay_mask(image, **settings)
        anonymous = secrets.token_hex(8)
        while anonymous in used:
            anonymous = secrets.token_hex(8)
        used.add(anonymous)
        cv2.imwrite(
            str(out / f"{anonymous}.png"), cv2.cvtColor(masked(image, mask), cv2.COLOR_RGB2BGR)
        )
        rows.append(
            {
                "original": str(path),
                "anonymous_id": anonymous,
                "masked_share": round(float(mask.mean()), 5),
            }
        )
    frame = pd.DataFrame(rows)
    table.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(table, index=False)
    print(
        f"{len(frame)} images masked into {out} (mean masked share "
        f"{frame['masked_share'].mean():.4f}); linkage table: {table}"
    )
    return frame


def measure(n_frames: int, seed: int = 0, **settings) -> dict[str, float]:
    """Mean text and tissue shares masked over ``n_frames`` synthetic frames."""
    figures = []
    for index in range(n_frames):
        frame, ink = synthetic_frame(np.random.default_rng([seed, index]))
        figures.append(masking_figures(overlay_mask(frame, **settings), ink, frame > 0))
    table = pd.DataFrame(figures)
    result = {
        "frames": n_frames,
        "text_masked_mean": float(table["text_masked"].mean()),
        "text_masked_min": float(table["text_masked"].min()),
        "tissue_masked_mean": float(table["tissue_masked"].mean()),
        "tissue_masked_max": float(table["tissue_masked"].max()),
    }
    rows = [
        (name, f"{value:.4f}" if isinstance(value, float) else str(value))
        for name, value in result.items()
    ]
    print(markdown_table(("figure", "value"), rows))
    return result


@hydra.main(config_path=str(config_dir()), config_name="anonymize", version_base="1.3")
def main(cfg: DictConfig) -> None:
    settings = dict(cfg.settings)
    with user_errors():
        if cfg.measure:
            measure(int(cfg.measure), int(cfg.seed), **settings)
            return
        if not (cfg.input and cfg.output and cfg.linkage):
            raise UsageError(
                "usage: python -m medzoo.anonymize input=<folder> output=<new folder> "
                "linkage=<new .csv outside both>   |   python -m medzoo.anonymize measure=50"
            )
        anonymize_folder(str(cfg.input), str(cfg.output), str(cfg.linkage), **settings)


if __name__ == "__main__":
    main()
