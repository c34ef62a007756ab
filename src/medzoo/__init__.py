"""medzoo: published medical-imaging AI results, rerun on public stand-in data.

Python entry points::

    import medzoo
    medzoo.list_tasks()                      # registered task names
    medzoo.get_card("breast_us")             # the task's card (classes, report figures, data)
    module = medzoo.create_task("breast_us") # its LightningModule
    model = medzoo.load("outputs/breast_us/<run>")  # or a release folder, "hf-hub:<org>/<name>",
    model.predict(["image.png"])             # or a task name from the local zoo
    medzoo.list_models()                     # the local zoo's trained models, with figures

    from medzoo.heads.detection.inference import TwoStagePipeline
    detect = TwoStagePipeline.from_run("outputs/us_detect/<run>")
    detect(frame).kept                       # boxes and scores the pipeline reports
"""

from medzoo._offline import apply_offline_defaults

apply_offline_defaults()

from medzoo import metrics  # noqa: E402
from medzoo.predictor import Predictor  # noqa: E402
from medzoo.releases import list_models, load  # noqa: E402
from medzoo.tasks import TaskCard, get_card, list_tasks  # noqa: E402

__version__ = "0.1.0"


def create_task(name: str, overrides: list[str] | None = None):
    """The LightningModule of task ``name``, built from its Hydra config plus ``overrides``."""
    from medzoo.config import compose
    from medzoo.heads import build_module
    from medzoo.tasks.card import card_of

    cfg = compose([f"task={name}", *(overrides or [])])
    return build_module(cfg, card_of(cfg))


__all__ = [
    "Predictor",
    "TaskCard",
    "create_task",
    "get_card",
    "list_models",
    "list_tasks",
    "load",
    "metrics",
]
