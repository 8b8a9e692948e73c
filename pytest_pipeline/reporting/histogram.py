"""Latency percentiles and a histogram picture (PNG, drawn with Pillow)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import ImageFont

# NumPy and Pillow belong to the optional extras ('load', 'images'): each function that needs
# them imports them, so the core plugin imports this module without them.

WIDTH, HEIGHT = 720, 360
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 64, 24, 40, 56
_BAR = (70, 130, 180)
_AXIS = (60, 60, 60)
_GRID = (225, 225, 225)
_LINES = {"p50": (46, 139, 87), "p95": (230, 140, 0), "p99": (200, 40, 40)}


@dataclass(frozen=True)
class Percentiles:
    """Summary statistics of a latency sample, in milliseconds."""

    count: int
    p50: float
    p95: float
    p99: float
    minimum: float
    maximum: float
    mean: float

    def as_figures(self) -> dict[str, float | int]:
        """The figures a report and JUnit carry (``latency_p50_ms`` …, ``latency_count``)."""
        return {
            "latency_p50_ms": round(self.p50, 3),
            "latency_p95_ms": round(self.p95, 3),
            "latency_p99_ms": round(self.p99, 3),
            "latency_count": self.count,
        }


def percentiles(values_ms: Sequence[float]) -> Percentiles:
    """p50/p95/p99 (linear interpolation), min, max and mean of ``values_ms``.

    Raises ``ValueError`` for an empty sample or a negative / non-finite value, naming it.
    """
    import numpy as np  # NumPy and Pillow: optional extras, imported where used

    if len(values_ms) == 0:
        raise ValueError("percentiles: no latency values were measured (empty sample)")

    data = np.asarray(values_ms, dtype=float)
    bad = data[~np.isfinite(data) | (data < 0)]
    if bad.size:
        raise ValueError(f"percentiles: latencies must be finite and >= 0, got {bad[0]!r}")
    p50, p95, p99 = (float(v) for v in np.percentile(data, [50, 95, 99]))
    return Percentiles(
        count=int(data.size),
        p50=p50,
        p95=p95,
        p99=p99,
        minimum=float(data.min()),
        maximum=float(data.max()),
        mean=float(data.mean()),
    )


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont  # Pillow: the optional extra 'images', imported where used

    try:
        return ImageFont.load_default(size=size)
    except (OSError, TypeError):  # Pillow built without FreeType
        return ImageFont.load_default()


def _bins(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import numpy as np  # NumPy and Pillow: optional extras, imported where used

    low, high = float(data.min()), float(data.max())
    if math.isclose(low, high):
        low, high = low - 0.5, high + 0.5
    count = int(min(40, max(5, math.ceil(math.sqrt(data.size)))))
    return np.histogram(data, bins=count, range=(low, high))


def render_histogram(title: str, values_ms: Sequence[float]) -> bytes:
    """A PNG histogram of ``values_ms`` with p50/p95/p99 marked, ``WIDTH`` by ``HEIGHT`` pixels."""
    import numpy as np  # NumPy and Pillow: optional extras, imported where used
    from PIL import Image, ImageDraw

    stats = percentiles(values_ms)
    data = np.asarray(values_ms, dtype=float)
    counts, edges = _bins(data)
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    small, big = _font(12), _font(15)
    left, right = _MARGIN_LEFT, WIDTH - _MARGIN_RIGHT
    top, bottom = _MARGIN_TOP, HEIGHT - _MARGIN_BOTTOM
    peak = max(int(counts.max()), 1)
    low, high = float(edges[0]), float(edges[-1])

    def x_of(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    def y_of(count: float) -> float:
        return bottom - count / peak * (bottom - top)

    for step in range(5):
        level = peak * step / 4
        y = y_of(level)
        draw.line([(left, y), (right, y)], fill=_GRID)
        draw.text((left - 8, y), f"{level:.0f}", fill=_AXIS, font=small, anchor="rm")
    for index, count in enumerate(counts):
        if count:
            x0, x1 = x_of(float(edges[index])), x_of(float(edges[index + 1]))
            draw.rectangle([x0 + 1, y_of(float(count)), x1 - 1, bottom], fill=_BAR)
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=_AXIS, width=2)
    for step in range(5):
        value = low + (high - low) * step / 4
        draw.text((x_of(value), bottom + 6), f"{value:.0f}", fill=_AXIS, font=small, anchor="ma")
    for row, (label, value) in enumerate(
        (("p50", stats.p50), ("p95", stats.p95), ("p99", stats.p99))
    ):
        x = x_of(value)
        draw.line([(x, top), (x, bottom)], fill=_LINES[label], width=2)
        # labels on their own rows, on white, so close percentiles stay readable over the bars
        text = f"{label} {value:.0f} ms"
        box = draw.textbbox((0, 0), text, font=small)
        width = box[2] - box[0]
        tx = x + 4 if x + 4 + width < right else x - 4 - width
        ty = top + 2 + row * 16
        draw.rectangle([tx - 2, ty - 1, tx + width + 2, ty + 14], fill="white")
        draw.text((tx, ty), text, fill=_LINES[label], font=small)
    draw.text((WIDTH / 2, 10), title, fill=(20, 20, 20), font=big, anchor="ma")
    draw.text(
        (WIDTH / 2, HEIGHT - 18),
        f"latency (ms), n={stats.count}",
        fill=_AXIS,
        font=small,
        anchor="ma",
    )
    draw.text((12, top - 22), "requests", fill=_AXIS, font=small)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
