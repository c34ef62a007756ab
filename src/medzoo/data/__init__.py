"""Datasets as manifests: recipes, validation, grouped splits, cached images, phantoms."""
