"""The detection head: an ultralytics YOLO detector proposes boxes, a timm crop classifier
(the verifier) removes false ones; ``training`` fits both, ``inference`` applies them."""

from medzoo.heads.detection.training import DetectionHead

__all__ = ["DetectionHead"]
