"""Drawing the procedural phantoms: synthetic images whose label is a real function of what is
drawn (the recipes in ``data.recipes.phantom`` cache them as datasets).

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
    """One B-mode-like grey image (uint8, size × size); see ``breast_ultrasound_scene``.

    Every phantom returns grey (H, W) or RGB (H, W, 3) uint8.
    """
    return breast_ultrasound_scene(rng, size, label)[0]


def breast_ultrasound_scene(
    rng: np.random.Generator, size: int, label: str
) -> tuple[np.ndarray, np.ndarray]:
    """A B-mode-like grey image (uint8, size × size) and its lesion mask (bool; empty when
    normal).

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
    mask = np.zeros((size, size), dtype=bool)
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
    return image.astype(np.uint8), mask


LIVER_US_CLASSES = ("hcc", "metastasis", "haemangioma", "cyst")


def liver_ultrasound(rng: np.random.Generator, size: int, label: str) -> np.ndarray:
    """A grey liver-ultrasound-like image (uint8) with one focal lesion drawn by its textbook
    B-mode signs:

    - ``cyst``: anechoic, sharp margin, strong posterior enhancement;
    - ``haemangioma``: homogeneous hyperechoic, sharp margin;
    - ``hcc``: heterogeneous ("mosaic") interior with a thin hypoechoic halo;
    - ``metastasis``: "target" lesion, echogenic centre inside a thick hypoechoic rim.
    """
    if label not in LIVER_US_CLASSES:
        raise ValueError(f"unknown phantom label {label!r}; expected one of {LIVER_US_CLASSES}")
    depth = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]
    echo = 0.5 + 0.06 * _smooth_noise(rng, size, 0.15) + 0.04 * _smooth_noise(rng, size, 0.4)
    mask, cx, bottom, half_width = _lesion_mask(rng, size, irregular=False)
    # Depth inside the lesion: 0 at the margin, 1 at its deepest point.
    inner = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    inner = inner / max(float(inner.max()), 1.0)
    if label == "cyst":
        lesion = np.full_like(echo, 0.03)
    elif label == "haemangioma":
        lesion = rng.uniform(0.8, 0.95) + 0.03 * _smooth_noise(rng, size, 0.3)
    elif label == "hcc":
        mosaic = 0.55 + 0.25 * _smooth_noise(rng, size, 0.08)
        lesion = np.where(inner < 0.15, 0.12, mosaic)
    else:
        lesion = np.where(inner < rng.uniform(0.35, 0.5), 0.15, rng.uniform(0.6, 0.8))
    echo = np.where(mask, lesion, echo).astype(np.float32)
    if label == "cyst":
        column = np.exp(-(((np.arange(size) - cx) / (0.8 * half_width)) ** 2))[None, :]
        below = (np.arange(size)[:, None] > bottom).astype(np.float32)
        echo = echo * (1.0 + rng.uniform(0.4, 0.7) * column * below)
    echo *= np.exp(-rng.uniform(0.3, 0.8) * depth)
    speckle = rng.rayleigh(scale=0.8, size=(size, size)).astype(np.float32)
    speckle = cv2.GaussianBlur(speckle, (3, 3), 0.6)
    return np.clip(echo * speckle * 255.0, 0, 255).astype(np.uint8)


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


RASH_CLASSES = ("non_severe", "sjs_ten")


def rash(rng: np.random.Generator, size: int, label: str) -> np.ndarray:
    """An RGB close-up of drug-eruption skin.

    - ``non_severe`` (maculopapular exanthem): many small, evenly red macules and papules;
    - ``sjs_ten``: fewer, larger dusky atypical target lesions (dark purple centre, red rim)
      that run together, and a pale eroded patch where the epidermis has detached.
    Both share skin tone, lighting and erythema background, so colour alone does not decide.
    """
    if label not in RASH_CLASSES:
        raise ValueError(f"unknown phantom label {label!r}; expected one of {RASH_CLASSES}")
    skin = np.array([0.87, 0.68, 0.56], dtype=np.float32) * rng.uniform(0.8, 1.1)
    shade = 1.0 + 0.08 * _smooth_noise(rng, size, 0.25)
    image = shade[..., None] * skin
    erythema = np.clip(0.25 + 0.2 * _smooth_noise(rng, size, 0.2), 0, 1)[..., None]
    red = np.array([0.82, 0.33, 0.33], dtype=np.float32)
    image = image * (1 - 0.5 * erythema) + 0.5 * erythema * red
    spots = np.zeros((size, size), np.float32)
    n_small = int(rng.integers(30, 60) if label == "non_severe" else rng.integers(5, 15))
    for _ in range(n_small):
        centre = tuple(int(v) for v in rng.uniform(0, size, 2))
        cv2.circle(spots, centre, max(1, round(rng.uniform(0.015, 0.03) * size)), 1.0, -1)
    if label == "sjs_ten":
        dusky = np.zeros((size, size), np.float32)
        rims = np.zeros((size, size), np.float32)
        for _ in range(int(rng.integers(3, 7))):
            centre = tuple(int(v) for v in rng.uniform(0.1, 0.9, 2) * size)
            radius = rng.uniform(0.05, 0.1) * size
            cv2.circle(rims, centre, round(radius), 1.0, -1)
            cv2.circle(dusky, centre, max(1, round(radius * rng.uniform(0.4, 0.6))), 1.0, -1)
        rims = cv2.GaussianBlur(rims, (0, 0), 0.02 * size)[..., None]
        dusky = cv2.GaussianBlur(dusky, (0, 0), 0.01 * size)[..., None]
        image = image * (1 - 0.7 * rims) + 0.7 * rims * red
        image = image * (1 - 0.8 * dusky) + 0.8 * dusky * np.array([0.45, 0.2, 0.3])
        erosion = (_smooth_noise(rng, size, 0.3) > rng.uniform(1.0, 1.4)).astype(np.float32)
        erosion = cv2.GaussianBlur(erosion, (0, 0), 0.01 * size)[..., None]
        image = image * (1 - 0.6 * erosion) + 0.6 * erosion * np.array([0.93, 0.8, 0.76])
    spots = cv2.GaussianBlur(spots, (0, 0), 0.01 * size)[..., None]
    image = image * (1 - 0.6 * spots) + 0.6 * spots * red
    image = image * rng.uniform(0.85, 1.1) + rng.normal(0.0, 0.02, image.shape)
    return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


# DESIGN-R 2020 items and grades, in order of severity (DU and I3C, which are not steps on
# these scales, are left out). The phantom never draws s0 (no wound).
DESIGN_R_ITEMS: dict[str, tuple[str, ...]] = {
    "depth": ("d0", "d1", "d2", "D3", "D4", "D5"),
    "exudate": ("e0", "e1", "e3", "E6"),
    "size": ("s0", "s3", "s6", "s8", "s9", "s12", "S15"),
    "inflammation": ("i0", "i1", "I3", "I9"),
    "granulation": ("g0", "g1", "g3", "G4", "G5", "G6"),
    "necrotic": ("n0", "N3", "N6"),
    "pocket": ("p0", "P6", "P9", "P12", "P24"),
}


def _share_of(
    region: np.ndarray, rng: np.random.Generator, share: float, scale: float
) -> np.ndarray:
    """A blotchy sub-region covering about ``share`` of ``region`` (smooth-noise threshold)."""
    if share <= 0 or not region.any():
        return np.zeros_like(region)
    noise = _smooth_noise(rng, region.shape[0], scale)
    cut = np.quantile(noise[region], 1.0 - share)
    return region & (noise >= cut)


def pressure_ulcer(rng: np.random.Generator, size: int, grades: dict[str, int]) -> np.ndarray:
    """An RGB pressure-ulcer photograph whose look encodes each DESIGN-R grade index.

    Size: wound radius. Depth: how dark the wound bed is. Inflammation: width of the red halo.
    Pocket: a dark undermined crescent along one edge. Granulation: share of the bed that is
    bright granular red (g0 most, G6 none). Necrotic: black eschar share. Exudate: yellow
    glossy share.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    skin = np.array([0.86, 0.68, 0.58], dtype=np.float32) * rng.uniform(0.85, 1.05)
    image = (1.0 + 0.05 * _smooth_noise(rng, size, 0.3))[..., None] * skin
    centre = rng.uniform(0.42, 0.58, 2) * size
    radius = (0.08 + 0.04 * max(grades["size"], 1)) * size
    aspect = rng.uniform(0.8, 1.2)
    angle = rng.uniform(0, np.pi)
    dx, dy = xx - centre[0], yy - centre[1]
    u = (dx * np.cos(angle) + dy * np.sin(angle)) / (radius * aspect)
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) / (radius / aspect)
    distance = np.sqrt(u**2 + v**2)
    wound = distance < 1.0
    halo = (distance >= 1.0) & (distance < 1.0 + 0.25 * grades["inflammation"])
    image[halo] = image[halo] * 0.55 + 0.45 * np.array([0.85, 0.25, 0.25])
    side = rng.uniform(0, 2 * np.pi)
    facing = np.cos(np.arctan2(v, u) - side) > 0.3
    pocket = facing & (distance >= 1.0) & (distance < 1.0 + 0.12 * grades["pocket"])
    image[pocket] = image[pocket] * 0.45 + 0.55 * np.array([0.35, 0.2, 0.3])
    darkness = grades["depth"] / 5.0
    bed = np.array([0.85, 0.5, 0.5]) * (1 - darkness) + np.array([0.3, 0.08, 0.1]) * darkness
    image[wound] = bed * (1.0 + 0.08 * _smooth_noise(rng, size, 0.15)[wound, None])
    granular = _share_of(wound, rng, 1.0 - grades["granulation"] / 5.0, 0.2)
    speckle = rng.random((size, size)) < 0.5
    image[granular & speckle] = np.array([0.9, 0.18, 0.2])
    necrotic = _share_of(wound & ~granular, rng, 0.3 * grades["necrotic"], 0.25)
    image[necrotic] = np.array([0.12, 0.1, 0.08])
    exudate = _share_of(wound & ~necrotic, rng, (0.0, 0.1, 0.25, 0.5)[grades["exudate"]], 0.3)
    image[exudate] = image[exudate] * 0.4 + 0.6 * np.array([0.92, 0.85, 0.45])
    image = image * rng.uniform(0.9, 1.1) + rng.normal(0.0, 0.02, image.shape)
    return (np.clip(image, 0.0, 1.0) * 255).astype(np.uint8)


EOSIN = np.array([0.93, 0.68, 0.80], dtype=np.float32)
HAEMATOXYLIN = np.array([0.45, 0.30, 0.68], dtype=np.float32)
CHROMATIN = np.array([0.16, 0.08, 0.32], dtype=np.float32)


def _mitotic_figure(
    rng: np.random.Generator, shape: tuple[int, int], centre: np.ndarray
) -> np.ndarray:
    """A dense, irregular chromatin figure: a metaphase plate (a thick bar with ragged edges)
    or an anaphase pair (two parallel bars), 8–11 px long at any angle."""
    figure = np.zeros(shape, dtype=np.uint8)
    angle = rng.uniform(0, np.pi)
    along = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-along[1], along[0]])
    half = rng.uniform(4.0, 5.5)
    offsets = [0.0] if rng.random() < 0.6 else [-2.6, 2.6]
    for offset in offsets:
        for t in np.linspace(-half, half, 9):
            point = centre + t * along + (offset + rng.normal(0, 0.5)) * across
            radius = max(1, round(rng.uniform(1.0, 2.0)))
            cv2.circle(figure, tuple(int(v) for v in np.rint(point)), radius, 1, -1)
    return figure.astype(bool)


def histology_field(
    rng: np.random.Generator, size: int, n_mitoses: int
) -> tuple[np.ndarray, np.ndarray]:
    """An H&E-like field (RGB uint8) with ordinary nuclei and ``n_mitoses`` mitotic figures.

    Ordinary nuclei are round or oval and mid purple, some hyperchromatic (dark but round);
    mitotic figures are darker still and bar-shaped or paired, as at metaphase/anaphase.
    Figures vary in density, the faintest close to a hyperchromatic nucleus. Returns the image
    and the (n, 2) figure centres (x, y), at least 11 px apart and 8 px from the border.
    """
    stroma = 0.9 + 0.06 * _smooth_noise(rng, size, 0.1) + 0.03 * _smooth_noise(rng, size, 0.4)
    image = stroma[..., None] * EOSIN * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    layers = {"ordinary": np.zeros((size, size), np.float32)}
    layers["hyperchromatic"] = np.zeros_like(layers["ordinary"])
    centres: list[np.ndarray] = []
    while len(centres) < n_mitoses:
        candidate = rng.uniform(8, size - 8, 2)
        if all(np.linalg.norm(candidate - c) >= 11 for c in centres):
            centres.append(candidate)
    for _ in range(int(size * size / 110)):
        centre = rng.uniform(0, size, 2)
        if any(np.linalg.norm(centre - c) < 7 for c in centres):
            continue
        axes = (round(rng.uniform(2.0, 3.8)), round(rng.uniform(2.0, 3.8)))
        kind = "ordinary" if rng.random() < 0.88 else "hyperchromatic"
        blob = np.zeros((size, size), dtype=np.uint8)
        cv2.ellipse(blob, tuple(int(v) for v in centre), axes, rng.uniform(0, 180), 0, 360, 1, -1)
        layers[kind] = np.maximum(layers[kind], blob * rng.uniform(0.45, 0.85))
    for kind, colour in (
        ("ordinary", HAEMATOXYLIN),
        ("hyperchromatic", 0.5 * (HAEMATOXYLIN + CHROMATIN)),
    ):
        alpha = cv2.GaussianBlur(layers[kind], (0, 0), 0.7)[..., None]
        image = image * (1 - alpha) + alpha * colour
    for centre in centres:
        figure = cv2.GaussianBlur(
            _mitotic_figure(rng, (size, size), centre).astype(np.float32), (0, 0), 0.6
        )
        figure *= rng.uniform(0.55, 1.0)  # faint figures approach the hyperchromatic nuclei
        image = image * (1 - figure[..., None]) + figure[..., None] * CHROMATIN
    image = image + rng.normal(0.0, 0.02, image.shape)
    image = np.clip(image, 0.0, 1.0)
    return (image * 255).astype(np.uint8), np.array(centres, dtype=np.float64).reshape(-1, 2)


PHANTOMS = {
    "breast_ultrasound": (breast_ultrasound, BREAST_US_CLASSES),
    "liver_ultrasound": (liver_ultrasound, LIVER_US_CLASSES),
    "fundus": (fundus, GLAUCOMA_GRADES),
    "rash": (rash, RASH_CLASSES),
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
