"""Two-stage lesion detection: an ultralytics YOLO detector proposes boxes, a timm crop
classifier (the verifier) removes false ones."""
