"""Array type aliases: OpenCV's stubs return loosely typed arrays, so dtypes live in names."""

from __future__ import annotations

from typing import Any

from numpy.typing import NDArray

Pixels = NDArray[Any]  # uint8 image, HxWx3 RGB or HxW grey
Mask = NDArray[Any]  # float32 in [0, 1], HxW
