"""``python -m medzoo.calibration [device=cpu|cuda]``: one figure to compare machines by.

Wall times depend on the machine as much as on the recipe, and per-image costs of
depthwise-convolution networks (EfficientNet-Lite) vary more between CPUs than those of plain
ones. Every timing medzoo documents therefore carries this figure, measured on the machine that
ran it: training images/s of a randomly initialised timm resnet18 at 160 px on random tensors
(nothing downloaded, nothing read from disk). A budget stated against it ("20 minutes at 59
img/s") transfers to another machine by the ratio of the figures, to a first approximation.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch

from medzoo.errors import UsageError


@dataclass(frozen=True)
class Calibration:
    images_per_s: float
    size: int
    batch: int
    threads: int
    device: str = "cpu"

    def line(self) -> str:
        where = f"{self.threads} torch threads" if self.device == "cpu" else self.device
        return (
            f"calibration: resnet18 training {self.images_per_s:.1f} img/s at {self.size} px "
            f"(batch {self.batch}, {where})"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def measure(
    size: int = 160,
    batch: int = 16,
    steps: int = 4,
    warmup: int = 2,
    rounds: int = 3,
    device: str = "cpu",
) -> Calibration:
    """The median over ``rounds`` of training images/s over ``steps`` SGD steps (after
    ``warmup`` steps), in this process and with its torch thread count (or on ``device``)."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=2).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    images = torch.rand(batch, 3, size, size, device=device)
    targets = torch.randint(0, 2, (batch,), device=device)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if device != "cpu":
            torch.cuda.synchronize()  # CUDA runs asynchronously: time the work, not the queue

    for _ in range(warmup):
        step()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * batch / (time.perf_counter() - start))
    threads = torch.get_num_threads()
    return Calibration(round(statistics.median(rates), 1), size, batch, threads, device)


USAGE = "usage: python -m medzoo.calibration [device=cpu|cuda]"


def main(argv: list[str] | None = None) -> None:
    import sys

    from medzoo.commands import key_values, user_errors

    with user_errors():
        options = key_values(sys.argv[1:] if argv is None else argv, ("device",), USAGE)
        device = options.get("device", "cpu")
        if device != "cpu" and not torch.cuda.is_available():
            raise UsageError(f"device={device}: torch sees no CUDA device here; {USAGE}")
        # A larger batch on a GPU: 16 images of 160 px would time kernel launches, not work.
        print(measure(batch=16 if device == "cpu" else 128, device=device).line())


if __name__ == "__main__":
    main()
