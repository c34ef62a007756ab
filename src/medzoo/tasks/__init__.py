"""Task registry: every task is a card (its YAML) and a generic module for its head type."""

from medzoo.tasks.card import ReferenceFigure, TaskCard, get_card, list_tasks

__all__ = ["ReferenceFigure", "TaskCard", "get_card", "list_tasks"]
