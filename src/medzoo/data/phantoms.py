"""Procedural phantoms: synthetic images whose label is a real function of what is drawn.

They let every CLI path run with no data at all and let tests assert that learning happens.
"""

from __future__ import annotations

import cv2
import numpy as np

BREAST_US_CLASSES = ("benign", "malignant", "normal")


def _smooth_noise(rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """Zero-mean, unit-ish noise with features about ``scale`` × size wide."""
    coarse = max(2, round(1.0 / scale))
    field = rng.standard_normal((coarse, coarse)).astype(np.float32)
    return cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)


def _lesion_mask(
    rng: np.random.Generator, size: int, irregular: bool
) -> tuple[np.ndarray, int, int, int]:
    """A filled lesion outline; returns the mask, its centre column, bottom row and half width."""
    cy = rng.uniform(0.35, 0.55) * size
    cx = rng.uniform(0.3, 0.7) * size
    radius = rng.uniform(0.12, 0.2) * size
    angles = np.linspace(0.0, 2.0 * np.pi, 180, endpoint=False)
    if irregular:
        # Taller than wide, lobulated and spiculated margin.
        rx, ry = radius * rng.uniform(0.75, 0.95), radius * rng.uniform(1.0, 1.25)
        wobble = sum(
            rng.uniform(0.08, 0.18) * np.sin(k * angles + rng.uniform(0, 2 * np.pi))
            for k in rng.choice(np.arange(5, 13), size=3, replace=False)
        )
        spikes = (rng.random(angles.size) < 0.08) * rng.uniform(0.2, 0.45, angles.size)
        r = 1.0 + wobble + np.convolve(spikes, np.ones(3) / 3, mode="same")
    else:
        # Wider than tall (parallel to the skin), smooth oval margin.
        rx, ry = radius * rng.uniform(1.15, 1.5), radius * rng.uniform(0.6, 0.85)
        r = 1.0 + 0.03 * np.sin(2 * angles + rng.uniform(0, 2 * np.pi))
    xs = cx + rx * r * np.cos(angles)
    ys = cy + ry * r * np.sin(angles)
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.fillPoly(mask, [np.stack([xs, ys], axis=1).round().astype(np.int32)], 1)
    return mask.astype(bool), round(cx), min(size - 1, round(ys.max())), max(1, round(rx))


def breast_ultrasound(rng: np.random.Generator, size: int, label: str) -> np.ndarray:
    """One B-mode-like grey image (uint8, size × size).

    Every phantom returns grey (H, W) or RGB (H, W, 3) uint8.

    - ``normal``: layered tissue and speckle only;
    - ``benign``: a smooth, wider-than-tall, near-anechoic oval with posterior enhancement;
    - ``malignant``: an irregular, taller-than-wide hypoechoic mass with a posterior shadow.
    """
    if label not in BREAST_US_CLASSES:
        raise ValueError(f"unknown phantom label {label!r}; expected one of {BREAST_US_CLASSES}")
    depth = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    layers = 0.45 + 0.12 * np.sin(2 * np.pi * (depth * rng.uniform(1.5, 3.0) + rng.uniform()))
    echo = layers + 0.08 * _smooth_noise(rng, size, 0.12) + 0.05 * _smooth_noise(rng, size, 0.3)
    echo = np.broadcast_to(echo, (size, size)).copy()
    if label != "normal":
        malignant = label == "malignant"
        mask, cx, bottom, half_width = _lesion_mask(rng, size, irregular=malignant)
        inside = rng.uniform(0.12, 0.25) if malignant else rng.uniform(0.03, 0.15)
        echo[mask] = inside + 0.04 * _smooth_noise(rng, size, 0.2)[mask]
        # Posterior acoustic shadow (malignant) or enhancement (benign) below the lesion.
        column = np.exp(-(((np.arange(size) - cx) / (0.8 * half_width)) ** 2))[None, :]
        below = (np.arange(size)[:, None] > bottom).astype(np.float32)
        strength = rng.uniform(0.45, 0.75) if malignant else rng.uniform(0.3, 0.6)
        factor = 1.0 - strength * column * below if malignant else 1.0 + strength * column * below
        echo = np.where(mask, echo, echo * factor)
    echo *= np.exp(-rng.uniform(0.4, 1.0) * depth)  # attenuation with depth
    speckle = rng.rayleigh(scale=0.8, size=(size, size)).astype(np.float32)
    speckle = cv2.GaussianBlur(speckle, (3, 3), 0.6)
    image = np.clip(echo * speckle * 255.0, 0, 255)
    return image.astype(np.uint8)


GLAUCOMA_GRADES = ("normal", "mild", "glaucoma")
# Vertical cup-to-disc ratio range per grade; clinical rules of thumb put >0.6 as suspicious.
CUP_TO_DISC = {"normal": (0.2, 0.4), "mild": (0.45, 0.6), "glaucoma": (0.65, 0.85)}


def _vessel_tree(
    mask: np.ndarray,
    rng: np.random.Generator,
    start: np.ndarray,
    angle: float,
    width: float,
    depth: int,
    size: int,
) -> None:
    """Draw one vessel as a wandering polyline that tapers and branches (in place)."""
    step = 0.02 * size
    point, points = start.astype(np.float64), [start.astype(np.float64)]
    for _ in range(int(rng.integers(14, 26))):
        angle += rng.normal(0.0, 0.18)
        point = point + step * np.array([np.cos(angle), np.sin(angle)])
        points.append(point)
        if depth > 0 and rng.random() < 0.12:
            side = rng.choice([-1.0, 1.0])
            _vessel_tree(
                mask, rng, point, angle + side * rng.uniform(0.5, 1.0), width * 0.7, depth - 1, size
            )
    polyline = np.round(np.array(points)).astype(np.int32)
    cv2.polylines(mask, [polyline], False, 1, thickness=max(1, round(width)))


def fundus_scene(
    rng: np.random.Generator, size: int, cup_to_disc: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A colour-fundus-like RGB image with its vessel mask and field-of-view mask.

    Orange-red retina inside a circular field of view, a darker macula, a yellow optic disc
    whose pale central cup has the given cup-to-disc ratio, and a branching vessel tree
    leaving the disc. Returns ``(rgb uint8, vessels bool, fov bool)``.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = size / 2.0
    fov_radius = 0.47 * size
    radius = np.hypot(xx - centre, yy - centre)
    fov = radius < fov_radius
    side = rng.choice([-1.0, 1.0])  # left or right eye: disc on one side, macula on the other
    disc = np.array([centre + side * 0.2 * size, centre + rng.uniform(-0.04, 0.04) * size])
    macula = np.array([centre - side * 0.08 * size, centre])
    disc_radius = rng.uniform(0.085, 0.1) * size

    shade = 1.0 - 0.35 * (radius / fov_radius) ** 2 + 0.06 * _smooth_noise(rng, size, 0.15)
    shade -= 0.25 * np.exp(-(np.hypot(xx - macula[0], yy - macula[1]) ** 2) / (0.08 * size) ** 2)
    colour = np.array([0.78, 0.36, 0.16], dtype=np.float32) * rng.uniform(0.85, 1.1)
    image = shade[..., None] * colour

    disc_distance = np.hypot(xx - disc[0], yy - disc[1])
    disc_mask = cv2.GaussianBlur((disc_distance < disc_radius).astype(np.float32), (0, 0), 0.6)
    cup = cv2.GaussianBlur(
        (disc_distance < cup_to_disc * disc_radius).astype(np.float32), (0, 0), 0.8
    )
    image = image * (1 - disc_mask[..., None]) + disc_mask[..., None] * np.array([0.95, 0.75, 0.4])
    image = image * (1 - cup[..., None]) + cup[..., None] * np.array([1.0, 0.93, 0.78])

    vessels = np.zeros((size, size), dtype=np.uint8)
    base = 0.9 + 0.025 * size / 16
    for angle in (-0.6, 0.6, np.pi - 0.9, np.pi + 0.9):
        heading = angle if side < 0 else np.pi - angle
        _vessel_tree(vessels, rng, disc, heading + rng.normal(0, 0.15), base, 2, size)
    vessels = vessels.astype(bool) & fov
    darken = cv2.GaussianBlur(vessels.astype(np.float32), (0, 0), 0.5)
    image = image * (1 - 0.5 * darken[..., None]) * np.where(darken[..., None] > 0, 0.9, 1.0)
    image = image + rng.normal(0.0, 0.015, image.shape)
    image = np.clip(image * fov[..., None], 0.0, 1.0)
    return (image * 255).astype(np.uint8), vessels, fov


def fundus(rng: np.random.Generator, size: int, label: str) -> np.ndarray:
    """An RGB fundus whose glaucoma grade is its cup-to-disc ratio (see ``CUP_TO_DISC``)."""
    if label not in CUP_TO_DISC:
        raise ValueError(f"unknown phantom label {label!r}; expected one of {GLAUCOMA_GRADES}")
    image, _, _ = fundus_scene(rng, size, rng.uniform(*CUP_TO_DISC[label]))
    return image


PHANTOMS = {
    "breast_ultrasound": (breast_ultrasound, BREAST_US_CLASSES),
    "fundus": (fundus, GLAUCOMA_GRADES),
}


def render_phantom(
    kind: str, n_per_class: int, size: int, seed: int, classes: tuple[str, ...] | None = None
) -> tuple[list[np.ndarray], list[str]]:
    """Render ``n_per_class`` images of each class; image ``i`` depends only on (seed, i)."""
    if kind not in PHANTOMS:
        raise ValueError(f"unknown phantom {kind!r}; available: {sorted(PHANTOMS)}")
    draw, known = PHANTOMS[kind]
    classes = tuple(classes or known)
    unknown = sorted(set(classes) - set(known))
    if unknown:
        raise ValueError(f"phantom {kind!r} cannot draw {unknown}; it draws {known}")
    images, labels = [], []
    for index in range(n_per_class * len(classes)):
        label = classes[index % len(classes)]
        rng = np.random.default_rng([seed, index])
        images.append(draw(rng, size, label))
        labels.append(label)
    return images, labels
