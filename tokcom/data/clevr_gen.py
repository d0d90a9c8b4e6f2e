"""CLEVR-style procedural scenes, questions and captions (no downloads).

A scene holds 3-10 objects on a ground plane seen from above-front. Each object
has CLEVR's attributes -- ``shape`` (cube / sphere / cylinder, drawn as 2D
projections: a square, a shaded disc, and a "cylinder" glyph, i.e. a rectangle
body with elliptical top and bottom, the top face lighter), ``color`` (CLEVR's
8 colours, same RGB values), ``size`` (small / large), ``material`` (rubber:
matte; metal: a specular highlight) -- plus one attribute CLEVR does not have,
``pattern``:

* **pattern** (``plain`` / ``striped`` / ``dotted``) is carried by *small*
  objects only (large objects are always ``plain``). It is a fine, zero-mean
  modulation of the object's colour with a period of exactly 4 pixels of the
  high-resolution (HR) image, anchored to the pixel grid: thin diagonal stripes
  2 px wide, or 2x2-px dots on a 4-px grid. Any 4x4 block of the pattern sums
  to zero, so **downsampling by 4** (area averaging, or antialiased bilinear,
  whose per-phase weights are equal for a 4-periodic signal) **cancels it
  exactly** inside the object; only the anti-aliased rim and the smooth
  shading leak a little. A plain, a striped and a dotted small object of the
  same colour are therefore indistinguishable at low resolution (LR) and
  clearly different at HR.

Question families (:data:`FAMILIES`) follow CLEVR's, generated from the scene
graph with templates and single-word answers:

============================  ==================================  ==========
family                        example                             needs HR
============================  ==================================  ==========
``exist``                     Is there a red cube?                no
``count``                     How many small spheres are there?   no
``query_attribute``           What color is the large cylinder?   no
``compare_attribute``         Is the cube the same color as ...?  no
``compare_count``             Are there more cubes than spheres?  no
``spatial_query``             What color is the sphere to the     no
                              left of the red cube?
``spatial_yesno``             Is the red cube in front of the     no
                              metal sphere?
``query_pattern``             What pattern does the small red     **yes**
                              cube have?
``exist_pattern``             Is there a striped cube?            **yes**
============================  ==================================  ==========

Only ``query_pattern`` and ``exist_pattern`` need the HR image
(:data:`NEEDS_HR`); referring expressions never use the pattern, so every
other family is answerable from the LR copy (colour, shape, size, material
and position survive 4x downsampling, although small shapes get hard).
Captions mention patterns (``"a small striped red rubber cube"``), so the
pattern words of a caption need HR as well. ``exist_pattern`` questions are
built so the LR image cannot answer them: the non-pattern part of the filter
always matches at least one small object, and the answer hinges on its
pattern.

Answer balance (rejection sampling per family): question slots are grouped in
blocks of one slot per family (a random family order per block); in each
block a yes/no family is asked for a target answer that alternates between
blocks (and between families within a block), a ``count`` question for a
target count cycling through 0-6 (the nearest achievable count is used), and
categorical families pick the answer class uniformly among those the scene
offers, then a question with that answer. Yes/no answers are therefore ~50/50 per family and counts spread.

Relations: ``left``/``right`` compare x, ``front``/``behind`` compare y
(larger y = nearer the camera = "in front"). Placement enforces a minimum gap
between objects (no occlusion) and a minimum x- and y-distance between every
pair, so every relation is unambiguous. Spatial questions are asked only when
both the reference and the target are unique.

Splits use disjoint seed ranges: image ``i`` of ``train`` / ``val`` / ``test``
has image seed ``i``, ``10**7 + i``, ``2 * 10**7 + i`` (mixed with ``seed``
and the CoGenT condition into a :class:`numpy.random.SeedSequence`).

CoGenT (``cogent="A"`` / ``"B"``) follows CLEVR-CoGenT: in condition A cubes are
only gray/blue/brown/yellow and cylinders only red/green/purple/cyan; condition
B swaps the two colour sets, so its cube and cylinder colour combinations are
exactly those held out of A. Spheres take any colour in both.

Rendering is numpy only (~1-2 ms for 96x96), anti-aliased analytically
(per-pixel coverage from signed distances), deterministic, and cached lazily
per image index as uint8.

Example::

    ds = CLEVRStyle("train", num_images=100, questions_per_image=5)
    ex = ds[0]          # Example(image=(3, 96, 96), question=..., answer=..., task="vqa")
    ex.meta["family"], ex.meta["needs_hr"]
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch

from tokcom.data.base import Example, ExampleDataset

__all__ = [
    "SHAPES", "COLORS", "SIZES", "MATERIALS", "PATTERNS", "FAMILIES", "NEEDS_HR",
    "COGENT_COLORS", "SPLIT_SEED_BASE", "PATTERN_PERIOD", "ANSWER_VOCAB",
    "SceneObject", "generate_scene", "render_scene", "caption", "generate_question",
    "CLEVRStyle",
]

SHAPES: tuple[str, ...] = ("cube", "sphere", "cylinder")
#: CLEVR's colours (``properties.json`` RGB values).
COLORS: dict[str, tuple[int, int, int]] = {
    "gray": (87, 87, 87), "red": (173, 35, 35), "blue": (42, 75, 215), "green": (29, 105, 20),
    "brown": (129, 74, 25), "purple": (129, 38, 192), "cyan": (41, 208, 192),
    "yellow": (255, 238, 51),
}
SIZES: tuple[str, ...] = ("small", "large")
MATERIALS: tuple[str, ...] = ("rubber", "metal")
PATTERNS: tuple[str, ...] = ("plain", "striped", "dotted")
#: Pattern period in HR pixels (cancelled exactly by 4x downsampling).
PATTERN_PERIOD = 4

FAMILIES: tuple[str, ...] = (
    "exist", "count", "query_attribute", "compare_attribute", "compare_count",
    "spatial_query", "spatial_yesno", "query_pattern", "exist_pattern",
)
#: Whether a family needs the high-resolution image.
NEEDS_HR: dict[str, bool] = {f: f in ("query_pattern", "exist_pattern") for f in FAMILIES}

#: CoGenT colour sets: condition -> shape -> allowed colours (spheres: any).
COGENT_COLORS: dict[str, dict[str, tuple[str, ...]]] = {
    "A": {"cube": ("gray", "blue", "brown", "yellow"), "cylinder": ("red", "green", "purple", "cyan")},
    "B": {"cube": ("red", "green", "purple", "cyan"), "cylinder": ("gray", "blue", "brown", "yellow")},
}
#: First image seed of each split (splits hold at most 10**7 images).
SPLIT_SEED_BASE: dict[str, int] = {"train": 0, "val": 10**7, "test": 2 * 10**7}
_MAX_IMAGES = 10**7
_COGENT_CODE = {None: 0, "A": 1, "B": 2}

_ATTRS: tuple[str, ...] = ("size", "color", "material", "shape")  # LR attributes, phrase order
_VALUES: dict[str, tuple[str, ...]] = {
    "size": SIZES, "color": tuple(COLORS), "material": MATERIALS, "shape": SHAPES,
}
_COUNT_TARGETS = (0, 1, 2, 3, 4, 5, 6)
_MAX_OBJECTS = 10

#: Every answer the generator can produce (sorted).
ANSWER_VOCAB: tuple[str, ...] = tuple(sorted(
    {"yes", "no"} | {str(i) for i in range(_MAX_OBJECTS + 1)} | set(SHAPES) | set(COLORS)
    | set(SIZES) | set(MATERIALS) | set(PATTERNS)))

# geometry, in units of the image side
_RADIUS = {"small": 0.06, "large": 0.10}
_PAD = 0.02        # object-to-border
_GAP = 0.015       # object-to-object clearance beyond the bounding circles
_MARGIN = 0.02     # minimum |dx| and |dy| between any two objects (unambiguous relations)


# --------------------------------------------------------------------------- scene

@dataclass(frozen=True)
class SceneObject:
    """One object of a scene graph.

    ``x``, ``y`` (centre) and ``r`` (bounding radius) are in units of the
    image side, x to the right and y downwards (larger y = in front).
    """
    shape: str
    color: str
    size: str
    material: str
    pattern: str
    x: float
    y: float
    r: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict of all fields."""
        return asdict(self)

    def phrase(self) -> str:
        """Caption phrase, e.g. ``"small striped red metal cube"`` (``plain`` is not said)."""
        words = [self.size] + ([self.pattern] if self.pattern != "plain" else [])
        return " ".join(words + [self.color, self.material, self.shape])


def _place(rng: np.random.Generator, radii: Sequence[float], tries: int = 40) -> list[tuple[float, float]] | None:
    """Rejection-sample centres: no overlap, min |dx| and |dy| between all pairs."""
    placed: list[tuple[float, float, float]] = []
    for r in radii:
        ok = False
        for _ in range(tries):
            cand = rng.uniform(r + _PAD, 1.0 - r - _PAD, size=(64, 2))
            good = np.ones(len(cand), dtype=bool)
            for (px, py, pr) in placed:
                dx = np.abs(cand[:, 0] - px)
                dy = np.abs(cand[:, 1] - py)
                good &= (np.hypot(dx, dy) >= r + pr + _GAP) & (dx >= _MARGIN) & (dy >= _MARGIN)
            idx = np.flatnonzero(good)
            if idx.size:
                x, y = cand[idx[0]]
                placed.append((float(x), float(y), r))
                ok = True
                break
        if not ok:
            return None
    return [(x, y) for x, y, _ in placed]


def generate_scene(rng: np.random.Generator, cogent: str | None = None,
                   min_objects: int = 3, max_objects: int = _MAX_OBJECTS) -> list[SceneObject]:
    """Sample a scene graph (deterministic given ``rng``'s state).

    At least one object is small and at least one small object is
    striped or dotted (so pattern questions always have a subject and both
    answers of ``exist_pattern`` are usually achievable). ``cogent`` (``"A"``/``"B"``) restricts cube and cylinder
    colours (:data:`COGENT_COLORS`).
    """
    if cogent not in _COGENT_CODE:
        raise ValueError(f"cogent must be None, 'A' or 'B', got {cogent!r}")
    if not 1 <= min_objects <= max_objects <= _MAX_OBJECTS:
        raise ValueError(f"need 1 <= min_objects <= max_objects <= {_MAX_OBJECTS}")
    n = int(rng.integers(min_objects, max_objects + 1))
    for _attempt in range(200):
        sizes = [SIZES[int(i)] for i in rng.integers(0, 2, size=n)]
        if "small" not in sizes:
            sizes[int(rng.integers(n))] = "small"
        centres = _place(rng, [_RADIUS[s] for s in sizes])
        if centres is None:
            continue
        objs = []
        for size, (x, y) in zip(sizes, centres):
            shape = SHAPES[int(rng.integers(len(SHAPES)))]
            palette = tuple(COLORS)
            if cogent is not None and shape in COGENT_COLORS[cogent]:
                palette = COGENT_COLORS[cogent][shape]
            color = palette[int(rng.integers(len(palette)))]
            material = MATERIALS[int(rng.integers(2))]
            pattern = PATTERNS[int(rng.integers(3))] if size == "small" else "plain"
            objs.append(SceneObject(shape, color, size, material, pattern, round(x, 5), round(y, 5),
                                    _RADIUS[size]))
        small = [i for i, o in enumerate(objs) if o.size == "small"]
        if all(objs[i].pattern == "plain" for i in small):  # at least one patterned object
            i = small[int(rng.integers(len(small)))]
            objs[i] = replace(objs[i], pattern=PATTERNS[1 + int(rng.integers(2))])
        return objs
    raise RuntimeError(f"could not place {n} objects without overlap")  # pragma: no cover


def caption(objects: Sequence[SceneObject]) -> str:
    """Deterministic caption: every object, left to right, ``"a large red metal cube, a ..."``."""
    return ", ".join(_article(o.phrase()) for o in sorted(objects, key=lambda o: (o.x, o.y)))


# --------------------------------------------------------------------------- rendering

def _albedo(color: str) -> np.ndarray:
    rgb = np.asarray(COLORS[color], dtype=np.float32) / 255.0
    return 0.08 + 0.84 * rgb  # headroom for the zero-mean pattern


def _pattern_field(pattern: str, ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """Zero-mean pattern on integer pixel indices (period 4 in x and y)."""
    if pattern == "striped":   # 2-px diagonal stripes
        return np.where(((ix + iy) // 2) % 2 == 0, 1.0, -1.0).astype(np.float32)
    if pattern == "dotted":    # 2x2 dots on a 4-px grid, +3 / -1 so each 4x4 cell sums to 0
        return np.where(((ix % 4) < 2) & ((iy % 4) < 2), 3.0, -1.0).astype(np.float32)
    raise ValueError(f"unknown pattern {pattern!r}")


def _pattern_amplitude(pattern: str, base: np.ndarray) -> np.ndarray:
    """Per-channel amplitude keeping ``base + amp * field`` inside [0.02, 0.98]."""
    lo, hi = base - 0.02, 0.98 - base
    if pattern == "striped":
        return np.minimum(0.2, np.minimum(lo, hi))
    lum = float(base @ np.array([0.3, 0.59, 0.11], dtype=np.float32))
    if lum < 0.5:   # light dots: +3a / -a
        return np.minimum(0.09, np.minimum(hi / 3.0, lo))
    return -np.minimum(0.09, np.minimum(lo / 3.0, hi))  # dark dots


def _sd_box(dx: np.ndarray, dy: np.ndarray, hx: float, hy: float) -> np.ndarray:
    qx, qy = np.abs(dx) - hx, np.abs(dy) - hy
    outside = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    inside = np.minimum(np.maximum(qx, qy), 0)
    return -(outside + inside)


def _sd_ellipse(dx: np.ndarray, dy: np.ndarray, a: float, b: float) -> np.ndarray:
    f = (dx / a) ** 2 + (dy / b) ** 2 - 1.0
    g = 2.0 * np.sqrt((dx / a**2) ** 2 + (dy / b**2) ** 2)
    return -f / np.maximum(g, 1e-6)


_LIGHT = np.array([-0.45, -0.55, 0.70], dtype=np.float32)
_LIGHT /= np.linalg.norm(_LIGHT)


def _draw_object(img: np.ndarray, o: SceneObject, size: int, patterns: bool) -> None:
    cx, cy, r = o.x * size, o.y * size, o.r * size
    ext = 1.15 * r + 2
    x0, x1 = max(int(cx - ext), 0), min(int(np.ceil(cx + ext)), size)
    y0, y1 = max(int(cy - ext), 0), min(int(np.ceil(cy + ext)), size)
    iy, ix = np.mgrid[y0:y1, x0:x1]
    dx = (ix + 0.5 - cx).astype(np.float32)
    dy = (iy + 0.5 - cy).astype(np.float32)
    metal = o.material == "metal"
    lo_shade = 0.3 if metal else 0.45
    if o.shape == "sphere":
        sd = r - np.hypot(dx, dy)
        nx, ny = dx / r, dy / r
        nz = np.sqrt(np.clip(1.0 - nx**2 - ny**2, 0.0, 1.0))
        lam = np.clip(nx * _LIGHT[0] + ny * _LIGHT[1] + nz * _LIGHT[2], 0.0, 1.0)
        shade = lo_shade + (1.0 - lo_shade) * lam
        hl = np.exp(-((dx + 0.38 * r) ** 2 + (dy + 0.42 * r) ** 2) / (2 * (0.2 * r) ** 2)) * 0.9
    elif o.shape == "cube":
        h = 0.8 * r
        sd = _sd_box(dx, dy, h, h)
        shade = np.clip(0.9 - 0.1 * dy / h - 0.05 * dx / h, 0.0, 1.0)
        if metal:
            shade = 0.85 * shade
        hl = np.exp(-((dx + 0.45 * h) ** 2 + (dy + 0.45 * h) ** 2) / (2 * (0.28 * h) ** 2)) * 0.75
    elif o.shape == "cylinder":
        w, hh, b = 0.8 * r, 0.6 * r, 0.26 * r
        sd_top = _sd_ellipse(dx, dy + hh, w, b)
        sd = np.maximum(np.maximum(_sd_box(dx, dy, w, hh), sd_top), _sd_ellipse(dx, dy - hh, w, b))
        nx = np.clip(dx / w, -1.0, 1.0)
        lam = np.clip(nx * _LIGHT[0] + np.sqrt(1.0 - nx**2) * _LIGHT[2], 0.0, 1.0)
        top = np.clip(sd_top + 0.5, 0.0, 1.0)
        shade = (lo_shade + (1.0 - lo_shade) * lam) * (1.0 - top) + 1.0 * top
        hl = np.exp(-((dx + 0.4 * w) ** 2) / (2 * (0.14 * w) ** 2)) * 0.75 * (1.0 - top)
    else:
        raise ValueError(f"unknown shape {o.shape!r}")
    alpha = np.clip(sd + 0.5, 0.0, 1.0)[..., None]
    base = _albedo(o.color)
    col = np.broadcast_to(base, alpha.shape[:2] + (3,)).astype(np.float32)
    if patterns and o.pattern != "plain":
        col = col + _pattern_field(o.pattern, ix, iy)[..., None] * _pattern_amplitude(o.pattern, base)
    col = col * shade[..., None]
    if metal:
        hl = hl[..., None]
        col = col * (1.0 - hl) + hl
    region = img[y0:y1, x0:x1]
    region *= 1.0 - alpha
    region += alpha * col


def _draw_shadow(img: np.ndarray, o: SceneObject, size: int) -> None:
    cx, cy, r = o.x * size, o.y * size, o.r * size
    sx, sy, a, b = cx + 0.35 * r, cy + 0.7 * r, 1.1 * r, 0.45 * r
    x0, x1 = max(int(sx - a - 1), 0), min(int(np.ceil(sx + a + 1)), size)
    y0, y1 = max(int(sy - b - 1), 0), min(int(np.ceil(sy + b + 1)), size)
    if x0 >= x1 or y0 >= y1:
        return
    iy, ix = np.mgrid[y0:y1, x0:x1]
    d = np.sqrt(((ix + 0.5 - sx) / a) ** 2 + ((iy + 0.5 - sy) / b) ** 2)
    s = np.clip((1.0 - d) / 0.6, 0.0, 1.0)
    s = s * s * (3.0 - 2.0 * s)
    img[y0:y1, x0:x1] *= (1.0 - 0.3 * s)[..., None]


def render_scene(objects: Sequence[SceneObject], image_size: int = 96, patterns: bool = True) -> np.ndarray:
    """Render a scene as an ``(H, W, 3)`` float32 array in ``[0, 1]``.

    Deterministic (no randomness). ``patterns=False`` renders every object
    plain (used to isolate the HR-only pattern signal).
    """
    if image_size < 16:
        raise ValueError(f"image_size must be >= 16, got {image_size}")
    s = image_size
    t = (np.arange(s, dtype=np.float32) + 0.5) / s
    img = np.empty((s, s, 3), dtype=np.float32)
    ground = 0.62 - 0.14 * t[:, None] - 0.04 * (t[None, :] - 0.5) ** 2
    img[:] = ground[..., None] * np.array([1.0, 1.0, 1.02], dtype=np.float32)
    for o in objects:
        _draw_shadow(img, o, s)
    for o in sorted(objects, key=lambda o: o.y):  # back to front
        _draw_object(img, o, s, patterns)
    return np.clip(img, 0.0, 1.0, out=img)


# --------------------------------------------------------------------------- questions

def _article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def _noun(filt: dict[str, str], plural: bool = False, pattern: str | None = None) -> str:
    """``{"size": "large", "shape": "cube"}`` -> ``"large cube"``; no shape -> ``object``."""
    words = [filt[a] for a in ("size",) if a in filt]
    if pattern is not None:
        words.append(pattern)
    words += [filt[a] for a in ("color", "material") if a in filt]
    noun = filt.get("shape", "object")
    words.append(noun + "s" if plural else noun)
    return " ".join(words)


class _Scene:
    """Scene graph with the query helpers question templates need."""

    def __init__(self, objects: Sequence[SceneObject]) -> None:
        self.objs = list(objects)
        self.n = len(self.objs)
        self._counts: dict[tuple[tuple[str, str], ...], int] = {}
        self._descs: dict[tuple[Any, ...], list[dict[str, str]]] = {}

    def count(self, filt: dict[str, str]) -> int:
        """Number of objects matching ``filt`` (memoised)."""
        key = tuple(filt.items())
        c = self._counts.get(key)
        if c is None:
            c = self._counts[key] = len(self.match(filt))
        return c

    def match(self, filt: dict[str, str], among: Sequence[int] | None = None) -> list[int]:
        idx = range(self.n) if among is None else among
        return [i for i in idx if all(getattr(self.objs[i], a) == v for a, v in filt.items())]

    def unique_descs(self, i: int, exclude: Sequence[str] = (), among: Sequence[int] | None = None
                     ) -> list[dict[str, str]]:
        """Minimal attribute subsets (without ``exclude``) that single out object ``i`` among ``among``."""
        key = (i, tuple(exclude), None if among is None else tuple(among))
        hit = self._descs.get(key)
        if hit is not None:
            return hit
        attrs = [a for a in _ATTRS if a not in exclude]
        o = self.objs[i]
        found: list[dict[str, str]] = []
        for k in range(len(attrs) + 1):
            for sub in itertools.combinations(attrs, k):
                filt = {a: getattr(o, a) for a in sub}
                if self.match(filt, among) == [i]:
                    found.append(filt)
            if found:
                break
        self._descs[key] = found
        return found

    def relate(self, i: int, rel: str) -> list[int]:
        o = self.objs[i]
        if rel == "left":
            return [j for j, p in enumerate(self.objs) if p.x < o.x]
        if rel == "right":
            return [j for j, p in enumerate(self.objs) if p.x > o.x]
        if rel == "front":
            return [j for j, p in enumerate(self.objs) if p.y > o.y]
        if rel == "behind":
            return [j for j, p in enumerate(self.objs) if p.y < o.y]
        raise ValueError(rel)


_REL_PHRASE = {"left": "to the left of", "right": "to the right of", "front": "in front of", "behind": "behind"}
_FILTERS: list[dict[str, str]] = [
    dict(zip(sub, vals))
    for k in (1, 2, 3)
    for sub in itertools.combinations(_ATTRS, k)
    for vals in itertools.product(*(_VALUES[a] for a in sub))
]


_FILTERS_LE2: list[dict[str, str]] = [f for f in _FILTERS if len(f) <= 2]
# ordered index pairs of 1- or 2-attribute filters over the same attributes ("red cubes" vs "blue cubes")
_SAME_KEY_PAIRS: list[tuple[int, int]] = [
    (a, b) for a, b in itertools.permutations(range(len(_FILTERS_LE2)), 2)
    if _FILTERS_LE2[a].keys() == _FILTERS_LE2[b].keys()
]


def _pick(rng: np.random.Generator, seq: Sequence[Any]) -> Any:
    return seq[int(rng.integers(len(seq)))]


def _pick_group(rng: np.random.Generator, groups: dict[str, list[Any]]) -> tuple[str, Any] | None:
    """Uniform answer class, then a uniform member (answer balancing for categorical families)."""
    keys = sorted(k for k, v in groups.items() if v)
    if not keys:
        return None
    key = _pick(rng, keys)
    return key, _pick(rng, groups[key])


def _pick_binary(rng: np.random.Generator, target: str, groups: dict[str, list[Any]]) -> tuple[str, Any] | None:
    if groups.get(target):
        return target, _pick(rng, groups[target])
    return None


_Q = tuple[str, str]  # (question, answer)


def _kind_with_both_answers(rng: np.random.Generator, kinds: Sequence[Any],
                            groups_of: Callable[[Any], dict[str, list[Any]]], target: str,
                            spare: bool = False) -> dict[str, list[Any]] | None:
    """The ``{"yes": [...], "no": [...]}`` groups of the first of ``kinds`` (in a random order)
    whose groups hold both answers: the kind of question (which attributes it names) is chosen
    before the target answer is looked at, so its words do not tell the answer. With ``spare``,
    a scene where no kind gives both answers falls back to the first kind with the ``target``
    answer (for a family the dataset falls back to, which must then work); else ``None``."""
    first = None
    for n in rng.permutation(len(kinds)):
        groups = groups_of(kinds[int(n)])
        if groups["yes"] and groups["no"]:
            return groups
        if spare and first is None and groups[target]:
            first = {target: groups[target]}
    return first


def _q_exist(sc: _Scene, rng: np.random.Generator, target: str) -> _Q | None:
    """The attributes a question names (how many, which) are drawn before the target answer
    (:func:`_kind_with_both_answers`; sizes and materials have 2 values, colours 8, and an
    absent "large object" is rare); then a filter of that kind with the target answer, a "no"
    preferring near misses (every named value is present in the scene)."""
    k = int(rng.choice([1, 2, 2, 3]))

    def groups_of(sub: tuple[str, ...]) -> dict[str, list[dict[str, str]]]:
        filters = [f for f in _FILTERS if tuple(f) == sub]
        return {"yes": [f for f in filters if sc.count(f)], "no": [f for f in filters if not sc.count(f)]}

    groups = _kind_with_both_answers(rng, list(itertools.combinations(_ATTRS, k)), groups_of, target)
    if groups is None:
        return None
    cands = groups[target]
    if target == "no":
        cands = [f for f in cands if all(sc.count({a: v}) for a, v in f.items())] or cands
    f = _pick(rng, cands)
    if rng.random() < 0.5:
        return f"Is there {_article(_noun(f))}?", target
    return f"Are there any {_noun(f, plural=True)}?", target


def _q_count(sc: _Scene, rng: np.random.Generator, target: int) -> _Q | None:
    by_count: dict[int, list[dict[str, str]]] = {}
    for f in [{}] + _FILTERS_LE2:
        by_count.setdefault(sc.count(f), []).append(f)
    best = min(abs(c - target) for c in by_count)
    c = _pick(rng, sorted(c for c in by_count if abs(c - target) == best))
    f = _pick(rng, by_count[c])
    tpl = _pick(rng, ["How many {} are there?", "What number of {} are there?"])
    return tpl.format(_noun(f, plural=True)), str(c)


def _q_compare_count(sc: _Scene, rng: np.random.Generator, target: str) -> _Q | None:
    counts = [sc.count(f) for f in _FILTERS_LE2]
    pairs = [(a, b, counts[a], counts[b]) for a, b in _SAME_KEY_PAIRS if counts[a] or counts[b]]
    kinds = ["more", "fewer", "equal"]
    start = int(rng.integers(3))
    for kind in kinds[start:] + kinds[:start]:
        if kind == "more":
            yes = [ca > cb for _a, _b, ca, cb in pairs]
        elif kind == "fewer":
            yes = [ca < cb for _a, _b, ca, cb in pairs]
        else:
            yes = [ca == cb for _a, _b, ca, cb in pairs]
        cands = [p for p, y in zip(pairs, yes) if y == (target == "yes")]
        if not cands:
            continue
        ia, ib, _ca, _cb = _pick(rng, cands)
        a, b = _noun(_FILTERS_LE2[ia], plural=True), _noun(_FILTERS_LE2[ib], plural=True)
        if kind == "more":
            q = f"Are there more {a} than {b}?"
        elif kind == "fewer":
            q = f"Are there fewer {a} than {b}?"
        else:
            q = f"Are there the same number of {a} and {b}?"
        return q, target
    return None


_QUERY_TPL = {
    "color": ["What color is the {}?", "What is the color of the {}?"],
    "shape": ["What shape is the {}?", "What is the shape of the {}?"],
    "size": ["What size is the {}?", "How big is the {}?"],
    "material": ["What material is the {}?", "What is the {} made of?"],
}


def _q_query_attribute(sc: _Scene, rng: np.random.Generator, attr: str) -> _Q | None:
    groups: dict[str, list[tuple[int, list[dict[str, str]]]]] = {}
    for i, o in enumerate(sc.objs):
        descs = sc.unique_descs(i, exclude=(attr,))
        if descs:
            groups.setdefault(getattr(o, attr), []).append((i, descs))
    got = _pick_group(rng, groups)
    if got is None:
        return None
    ans, (_i, descs) = got
    return _pick(rng, _QUERY_TPL[attr]).format(_noun(_pick(rng, descs))), ans


def _q_compare_attribute(sc: _Scene, rng: np.random.Generator, target: str, attr: str) -> _Q | None:
    """The compared attribute is ``attr``, or the first of the others (in :data:`_ATTRS` order)
    for which this scene has describable pairs with both answers: chosen before the target
    answer is looked at, so the attribute word does not tell the answer."""
    attrs = [attr] + [a for a in _ATTRS if a != attr]
    for a in attrs:
        descs = {i: sc.unique_descs(i, exclude=(a,)) for i in range(sc.n)}
        groups: dict[str, list[tuple[int, int]]] = {"yes": [], "no": []}
        for i, j in itertools.permutations([i for i in descs if descs[i]], 2):
            same = getattr(sc.objs[i], a) == getattr(sc.objs[j], a)
            groups["yes" if same else "no"].append((i, j))
        if not (groups["yes"] and groups["no"]):
            continue
        i, j = _pick(rng, groups[target])
        x, y = _noun(_pick(rng, descs[i])), _noun(_pick(rng, descs[j]))
        if rng.random() < 0.5:
            return f"Is the {x} the same {a} as the {y}?", target
        return f"Does the {x} have the same {a} as the {y}?", target
    return None


def _q_spatial_query(sc: _Scene, rng: np.random.Generator, attr: str) -> _Q | None:
    groups: dict[str, list[tuple[int, dict[str, str], str, dict[str, str]]]] = {}
    for ref in range(sc.n):
        ref_descs = sc.unique_descs(ref)
        if not ref_descs:
            continue
        for rel in _REL_PHRASE:
            among = sc.relate(ref, rel)
            for t in among:
                t_descs = sc.unique_descs(t, exclude=(attr,), among=among)
                if t_descs:
                    groups.setdefault(getattr(sc.objs[t], attr), []).append(
                        (t, _pick(rng, t_descs), rel, _pick(rng, ref_descs)))
    got = _pick_group(rng, groups)
    if got is None:
        return None
    ans, (_t, td, rel, rd) = got
    tpl = {"color": "What color is the {} {} the {}?", "shape": "What shape is the {} {} the {}?",
           "size": "What size is the {} {} the {}?", "material": "What material is the {} {} the {}?"}[attr]
    return tpl.format(_noun(td), _REL_PHRASE[rel], _noun(rd)), ans


def _q_spatial_yesno(sc: _Scene, rng: np.random.Generator, target: str) -> _Q | None:
    descs = {i: sc.unique_descs(i) for i in range(sc.n)}
    ok = [i for i in descs if descs[i]]
    groups: dict[str, list[tuple[int, str, int]]] = {"yes": [], "no": []}
    for x, y in itertools.permutations(ok, 2):
        for rel in _REL_PHRASE:
            groups["yes" if x in sc.relate(y, rel) else "no"].append((x, rel, y))
    got = _pick_binary(rng, target, groups)
    if got is None:
        return None
    x, rel, y = got[1]
    return f"Is the {_noun(_pick(rng, descs[x]))} {_REL_PHRASE[rel]} the {_noun(_pick(rng, descs[y]))}?", target


def _q_query_pattern(sc: _Scene, rng: np.random.Generator) -> _Q | None:
    groups: dict[str, list[tuple[int, list[dict[str, str]]]]] = {}
    for i, o in enumerate(sc.objs):
        if o.size != "small":
            continue
        descs = sc.unique_descs(i)
        if descs:
            groups.setdefault(o.pattern, []).append((i, descs))
    got = _pick_group(rng, groups)
    if got is None:
        return None
    ans, (_i, descs) = got
    tpl = _pick(rng, ["What pattern does the {} have?", "What is the surface pattern of the {}?"])
    return tpl.format(_noun(_pick(rng, descs))), ans


def _q_exist_pattern(sc: _Scene, rng: np.random.Generator, target: str) -> _Q | None:
    """As :func:`_q_exist`: the attributes named besides the pattern (none, or one or two of
    size, colour, material, shape) are drawn before the target answer; then a filter of that
    kind and a pattern with the target answer (the LR part must match a small object, so that
    the pattern decides). The dataset falls back to this family, so a scene where no kind gives
    both answers takes the first kind with the target answer."""

    def groups_of(sub: tuple[str, ...]) -> dict[str, list[tuple[str, dict[str, str]]]]:
        groups: dict[str, list[tuple[str, dict[str, str]]]] = {"yes": [], "no": []}
        for f in [{}] + _FILTERS_LE2:
            if tuple(f) != sub:
                continue
            small = [i for i in sc.match(f) if sc.objs[i].size == "small"]
            for p in ("striped", "dotted") if small else ():
                groups["yes" if any(sc.objs[i].pattern == p for i in small) else "no"].append((p, f))
        return groups

    kinds = [()] + [sub for k in (1, 2) for sub in itertools.combinations(_ATTRS, k)]
    groups = _kind_with_both_answers(rng, kinds, groups_of, target, spare=True)
    if groups is None:
        return None
    p, f = _pick(rng, groups[target])
    if rng.random() < 0.5:
        return f"Is there {_article(_noun(f, pattern=p))}?", target
    return f"Are there any {_noun(f, plural=True, pattern=p)}?", target


def generate_question(objects: Sequence[SceneObject], family: str, rng: np.random.Generator,
                      block: int = 0) -> tuple[str, str] | None:
    """One ``(question, answer)`` of ``family`` about the scene, or ``None`` if the scene has none.

    ``block`` sets the balancing targets: yes/no families aim at ``"yes"``
    when ``block + FAMILIES.index(family)`` is even (``"no"`` when odd, so
    consecutive blocks alternate and families of one block differ),
    ``count`` aims at
    ``block % 7`` (nearest achievable count), attribute queries ask about
    ``("size", "color", "material", "shape")[block % 4]``; ``compare_attribute`` compares
    ``("size", "color", "material", "shape")[(block // 2) % 4]``, so that every compared
    attribute is asked with both answers (with ``block % 4`` the attribute had the parity of the
    target and its word told the answer: a question-only baseline scored 86% on that family,
    ``python -m simulations.question_prior``).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown question family {family!r}; valid: {', '.join(FAMILIES)}")
    sc = _Scene(objects)
    yn = ("yes", "no")[(block + FAMILIES.index(family)) % 2]
    attr = _ATTRS[block % 4]
    if family == "exist":
        return _q_exist(sc, rng, yn)
    if family == "count":
        return _q_count(sc, rng, _COUNT_TARGETS[block % len(_COUNT_TARGETS)])
    if family == "query_attribute":
        return _q_query_attribute(sc, rng, attr)
    if family == "compare_attribute":
        return _q_compare_attribute(sc, rng, yn, _ATTRS[(block // 2) % len(_ATTRS)])
    if family == "compare_count":
        return _q_compare_count(sc, rng, yn)
    if family == "spatial_query":
        return _q_spatial_query(sc, rng, attr)
    if family == "spatial_yesno":
        return _q_spatial_yesno(sc, rng, yn)
    if family == "query_pattern":
        return _q_query_pattern(sc, rng)
    if family == "exist_pattern":
        return _q_exist_pattern(sc, rng, yn)
    raise ValueError(f"unknown question family {family!r}; valid: {', '.join(FAMILIES)}")


# --------------------------------------------------------------------------- dataset

class CLEVRStyle(ExampleDataset):
    """Procedural CLEVR-style VQA / captioning dataset.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (disjoint image seeds,
            :data:`SPLIT_SEED_BASE`).
        num_images: number of scenes.
        questions_per_image: questions per scene (``task="vqa"``); ignored
            for captioning (one caption per scene).
        image_size: HR side in pixels.
        seed: global seed (changes every scene and question).
        task: ``"vqa"`` or ``"caption"``.
        cogent: ``None``, ``"A"`` or ``"B"`` (:data:`COGENT_COLORS`).
        families: restrict the question families (default: all of
            :data:`FAMILIES`). A family a scene cannot support falls back to
            the next scheduled one; if none works, to ``exist_pattern``
            (HR families) or ``count`` (others), which always work.
        cache: keep rendered images (uint8) in memory by index.

    Item ``k`` (VQA) is question ``k % questions_per_image`` of scene
    ``k // questions_per_image``. ``meta`` holds ``image_index``,
    ``image_seed``, ``split``, ``family``, ``needs_hr`` and ``scene`` (a list
    of object dicts).
    """

    #: Version of the question generator, recorded in every results file that uses this set
    #: (``dataset_version``), so that a sweep never resumes results of another version. 2: the
    #: wording of ``compare_attribute``, ``exist`` and ``exist_pattern`` questions no longer
    #: tells the answer (:func:`_q_compare_attribute`, :func:`_q_exist`, :func:`_q_exist_pattern`);
    #: scenes, images and the other six families are those of version 1. Captioning sets carry ``None`` (captions never changed).
    version: int | None = 2

    def __init__(self, split: str, num_images: int, questions_per_image: int = 1, image_size: int = 96,
                 seed: int = 0, task: Literal["vqa", "caption"] = "vqa",
                 cogent: Literal[None, "A", "B"] = None, families: Sequence[str] | None = None,
                 cache: bool = True) -> None:
        if split not in SPLIT_SEED_BASE:
            raise ValueError(f"split must be one of {sorted(SPLIT_SEED_BASE)}, got {split!r}")
        if not 0 <= num_images <= _MAX_IMAGES:
            raise ValueError(f"num_images must be in [0, {_MAX_IMAGES}], got {num_images}")
        if questions_per_image < 1:
            raise ValueError(f"questions_per_image must be >= 1, got {questions_per_image}")
        if task not in ("vqa", "caption"):
            raise ValueError(f"task must be 'vqa' or 'caption', got {task!r}")
        if cogent not in _COGENT_CODE:
            raise ValueError(f"cogent must be None, 'A' or 'B', got {cogent!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        fams = tuple(FAMILIES if families is None else families)
        bad = [f for f in fams if f not in FAMILIES]
        if bad or not fams:
            raise ValueError(f"unknown/empty families {bad}; valid: {', '.join(FAMILIES)}")
        self.split, self.num_images, self.questions_per_image = split, num_images, questions_per_image
        self.image_size, self.seed, self.task, self.cogent = image_size, seed, task, cogent
        self.families, self.cache = fams, cache
        if task == "caption":
            self.version = None
        self._scenes: dict[int, list[SceneObject]] = {}
        self._questions: dict[int, list[tuple[str, str, str]]] = {}
        self._images: dict[int, torch.Tensor] = {}

    # -- per image -----------------------------------------------------------------
    def image_seed(self, image_index: int) -> int:
        """The split-range seed of scene ``image_index``."""
        return SPLIT_SEED_BASE[self.split] + image_index

    def _ss(self, *extra: int) -> list[int]:
        return [self.seed, _COGENT_CODE[self.cogent], *extra]

    def scene(self, image_index: int) -> list[SceneObject]:
        """The scene graph of image ``image_index`` (cached)."""
        s = self._scenes.get(image_index)
        if s is None:
            rng = np.random.default_rng(self._ss(self.image_seed(image_index), 0))
            s = self._scenes[image_index] = generate_scene(rng, cogent=self.cogent)
        return s

    def image(self, image_index: int) -> torch.Tensor:
        """The rendered HR image ``(3, S, S)`` float in [0, 1] (cached as uint8)."""
        t = self._images.get(image_index)
        if t is None:
            arr = render_scene(self.scene(image_index), self.image_size)
            t = torch.from_numpy(np.round(arr * 255.0).astype(np.uint8)).permute(2, 0, 1).contiguous()
            if self.cache:
                self._images[image_index] = t
        return t.float().div_(255.0)

    def questions(self, image_index: int) -> list[tuple[str, str, str]]:
        """``(question, answer, family)`` for every question of image ``image_index`` (cached)."""
        qs = self._questions.get(image_index)
        if qs is not None:
            return qs
        objs = self.scene(image_index)
        nf, q = len(self.families), self.questions_per_image
        qs = []
        for j in range(q):
            slot = image_index * q + j
            block, pos = divmod(slot, nf)
            perm = np.random.default_rng(self._ss(SPLIT_SEED_BASE[self.split], 1, block)).permutation(nf)
            order = [self.families[int(perm[(pos + d) % nf])] for d in range(nf)]
            rng = np.random.default_rng(self._ss(self.image_seed(image_index), 2, j))
            out = None
            for fam in order:
                out = generate_question(objs, fam, rng, block)
                if out is not None:
                    break
            if out is None:
                fam = "exist_pattern" if NEEDS_HR[order[0]] else "count"
                out = generate_question(objs, fam, rng, block)
                if out is None:  # exist_pattern may need the other target
                    out = generate_question(objs, fam, rng, block + 1)
            assert out is not None
            qs.append((out[0], out[1], fam))
        self._questions[image_index] = qs
        return qs

    # -- Dataset -------------------------------------------------------------------
    def __len__(self) -> int:
        return self.num_images * (self.questions_per_image if self.task == "vqa" else 1)

    def __getitem__(self, index: int) -> Example:
        index = self._check_index(index)
        if self.task == "caption":
            i = index
            objs = self.scene(i)
            return Example(self.image(i), None, caption(objs), "caption", self._meta(i, objs) | {
                "needs_hr": any(o.pattern != "plain" for o in objs)})
        i, j = divmod(index, self.questions_per_image)
        question, answer, fam = self.questions(i)[j]
        objs = self.scene(i)
        return Example(self.image(i), question, answer, "vqa", self._meta(i, objs) | {
            "question_index": j, "family": fam, "needs_hr": NEEDS_HR[fam]})

    def _meta(self, i: int, objs: Sequence[SceneObject]) -> dict[str, Any]:
        return {"dataset": "clevr_gen", "split": self.split, "cogent": self.cogent, "image_index": i,
                "image_seed": self.image_seed(i), "scene": [o.to_dict() for o in objs]}

    def families_of(self) -> list[str]:
        """The family of every example in index order (VQA)."""
        if self.task == "caption":
            return ["caption"] * len(self)
        return [f for i in range(self.num_images) for (_q, _a, f) in self.questions(i)]

    def texts(self, limit: int | None = None) -> list[tuple[str | None, str]]:
        """``(question, answer)`` (captions: ``(None, caption)``) of the first ``limit`` examples
        in index order (scene graphs only, no rendering)."""
        n = len(self) if limit is None else min(len(self), limit)
        if self.task == "caption":
            return [(None, caption(self.scene(i))) for i in range(n)]
        per = self.questions_per_image
        return [(q, a) for i in range(-(-n // per)) for q, a, _f in self.questions(i)][:n]

    def answers(self) -> list[str]:
        """Gold answers in index order (scene graphs only, no rendering)."""
        if self.task == "caption":
            return [caption(self.scene(i)) for i in range(self.num_images)]
        return [a for i in range(self.num_images) for (_q, a, _f) in self.questions(i)]

    def answer_vocab(self) -> list[str]:
        """The closed VQA answer vocabulary :data:`ANSWER_VOCAB` (captions: observed captions)."""
        if self.task == "caption":
            return sorted(set(self.answers()))
        return list(ANSWER_VOCAB)
