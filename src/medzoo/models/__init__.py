"""timm backbones and offline sources of pretrained weights."""

from medzoo.models.backbones import create_backbone
from medzoo.models.weights import WeightsUnavailableError

__all__ = ["WeightsUnavailableError", "create_backbone"]
