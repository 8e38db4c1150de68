"""The smallest unsigned integer type that holds every label id of a label volume exactly."""
from __future__ import annotations

import numpy as np

LABEL_DTYPES = (np.uint8, np.uint16, np.uint32, np.int64, np.uint64)


def label_dtype(max_label: int) -> type:
    """uint8, uint16, uint32, int64 (the usual type of large label ids) or uint64 for ``max_label`` >= 0."""
    for dtype in LABEL_DTYPES:
        if int(max_label) <= np.iinfo(dtype).max:
            return dtype
    raise ValueError(f"label id {max_label} does not fit in 64 bits")
