"""The volume array axis normal to the slice view the user painted in."""
from __future__ import annotations

import numpy as np
from sli2vol.errors import InputError

# Slicer's default slice views and their normals in RAS (SliceToRAS third column)
VIEW_NAMES = {"Red": (0.0, 0.0, 1.0), "Yellow": (1.0, 0.0, 0.0), "Green": (0.0, 1.0, 0.0)}
MAX_OBLIQUE_DEGREES = 10.0  # the view normal must lie within this angle of one volume axis
ARRAY_AXIS_NAMES = ("K", "J", "I")


def view_normal(view) -> np.ndarray:
    """Unit normal in RAS of ``view``: a name of VIEW_NAMES or a (4, 4) SliceToRAS matrix."""
    normal = np.asarray(VIEW_NAMES[view] if isinstance(view, str) else np.asarray(view, float)[:3, 2], float)
    return normal / np.linalg.norm(normal)


def propagation_axis(ijk_to_ras: np.ndarray, view) -> int:
    """Array axis (0 = K, 1 = J, 2 = I of a (K, J, I) volume array) whose direction is normal to ``view``.

    Args:
        ijk_to_ras: (4, 4) voxel -> RAS matrix of the source volume (parent transforms included);
            IJK axes may be permuted, flipped or oblique with respect to the patient axes.
        view: ``"Red"``, ``"Yellow"``, ``"Green"`` or the view's (4, 4) SliceToRAS matrix.

    Raises :class:`InputError` when the view is oblique to the volume (its normal more than
    MAX_OBLIQUE_DEGREES away from every volume axis).
    """
    directions = np.asarray(ijk_to_ras, float)[:3, :3]
    directions = directions / np.linalg.norm(directions, axis=0)
    cosines = np.abs(view_normal(view) @ directions)  # per IJK axis
    ijk_axis = int(np.argmax(cosines))
    angle = float(np.degrees(np.arccos(min(1.0, cosines[ijk_axis]))))
    if angle > MAX_OBLIQUE_DEGREES:
        name = view if isinstance(view, str) else "the view"
        raise InputError(
            f"{name} is oblique to the volume (its normal is {angle:.0f} degrees from the nearest volume axis): "
            "paint in a view aligned with the volume's slices (slice view menu: 'Rotate to volume plane')"
        )
    return 2 - ijk_axis
