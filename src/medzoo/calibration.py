"""``python -m medzoo.calibration``: one figure to compare machines by.

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


@dataclass(frozen=True)
class Calibration:
    images_per_s: float
    size: int
    batch: int
    threads: int

    def line(self) -> str:
        return (
            f"calibration: resnet18 training {self.images_per_s:.1f} img/s at {self.size} px "
            f"(batch {self.batch}, {self.threads} torch threads)"
        )

    def as_dict(self) -> dict:
        return asdict(self)


def measure(
    size: int = 160, batch: int = 16, steps: int = 4, warmup: int = 2, rounds: int = 3
) -> Calibration:
    """The median over ``rounds`` of training images/s over ``steps`` SGD steps (after
    ``warmup`` steps), in this process and with its torch thread count."""
    import timm

    torch.manual_seed(0)
    model = timm.create_model("resnet18", num_classes=2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    images, targets = torch.rand(batch, 3, size, size), torch.randint(0, 2, (batch,))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(images), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * batch / (time.perf_counter() - start))
    return Calibration(round(statistics.median(rates), 1), size, batch, torch.get_num_threads())


def main() -> None:
    print(measure().line())


if __name__ == "__main__":
    main()
