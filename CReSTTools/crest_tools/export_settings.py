"""Settings of a patch export (how patches are cut from volumes), and the segment-name -> class mapping.

Both are validated when built and stored in the dataset manifest (``"export"``) so that applying a
trained run to new segments samples patches exactly as the export did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

PLANES = ("axial", "coronal", "sagittal")


@dataclass(frozen=True)
class ExportSettings:
    """How 2-D patches are sampled and how volumes are split.

    Attributes:
        planes: anatomical planes to cut ("axial", "coronal", "sagittal"); one patch per plane
            and centre, each a separate sample.
        patch_px: patch side in pixels (the centre is pixel ``patch_px // 2``).
        patch_mm: patch side in mm; pixel spacing = patch_mm / patch_px (trilinear resampling).
        channels: parallel planes stacked as channels (odd; 3 = the slice and its two neighbours).
        channel_spacing_mm: distance between channel planes; None = the pixel spacing.
        window: [lo, hi] intensities mapped to 0..255; None = each volume's 1st..99th percentile.
        max_patches_per_segment: cap on the patches of one segment (per plane).
        voxels_per_patch: one patch per this many segment voxels (at least one per segment).
        unlabelled_per_volume: patches from unsegmented regions of each training volume and from
            volumes without segmentation (label unknown; unlabelled split).
        test_fraction, unlabelled_fraction: share of the segmented volumes whose patches go to the
            test split / to the unlabelled split (labels kept for diagnostics); the rest is labelled.
        seed: seed of the split and of the patch centres.
    """

    planes: tuple[str, ...] = ("axial",)
    patch_px: int = 32
    patch_mm: float = 40.0
    channels: int = 1
    channel_spacing_mm: float | None = None
    window: tuple[float, float] | None = None
    max_patches_per_segment: int = 300
    voxels_per_patch: int = 250
    unlabelled_per_volume: int = 0
    test_fraction: float = 0.3
    unlabelled_fraction: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "planes", tuple(self.planes))
        bad = [p for p in self.planes if p not in PLANES]
        if not self.planes or bad or len(set(self.planes)) != len(self.planes):
            raise ValueError(f"planes must be distinct names from {PLANES}, got {list(self.planes)}")
        if self.patch_px < 4:
            raise ValueError(f"patch_px must be >= 4, got {self.patch_px}")
        if not self.patch_mm > 0:
            raise ValueError(f"patch_mm must be > 0, got {self.patch_mm}")
        if self.channels < 1 or self.channels % 2 == 0:
            raise ValueError(f"channels must be odd and >= 1, got {self.channels}")
        if self.channel_spacing_mm is not None and not self.channel_spacing_mm > 0:
            raise ValueError(f"channel_spacing_mm must be > 0 or None, got {self.channel_spacing_mm}")
        if self.window is not None:
            object.__setattr__(self, "window", (float(self.window[0]), float(self.window[1])))
            if not self.window[1] > self.window[0]:
                raise ValueError(f"window must have hi > lo, got {list(self.window)}")
        if self.max_patches_per_segment < 1 or self.voxels_per_patch < 1 or self.unlabelled_per_volume < 0:
            raise ValueError(
                "max_patches_per_segment and voxels_per_patch must be >= 1 and unlabelled_per_volume >= 0, "
                f"got {self.max_patches_per_segment}, {self.voxels_per_patch}, {self.unlabelled_per_volume}"
            )
        fractions = (self.test_fraction, self.unlabelled_fraction)
        if min(fractions) < 0 or sum(fractions) >= 1:
            raise ValueError(
                f"test_fraction and unlabelled_fraction must be >= 0 with a sum < 1, got {list(fractions)}"
            )

    @property
    def pixel_mm(self) -> float:
        """In-plane pixel spacing of a patch, mm."""
        return self.patch_mm / self.patch_px

    def to_dict(self) -> dict:
        values = dataclasses.asdict(self)
        values["planes"] = list(self.planes)
        values["window"] = list(self.window) if self.window is not None else None
        return values

    @classmethod
    def from_dict(cls, values: Mapping) -> ExportSettings:
        """Settings from :meth:`to_dict` output; unknown keys are refused with their names."""
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"unknown export settings {unknown}")
        return cls(**values)


@dataclass(frozen=True)
class ClassMapping:
    """Segment name -> class name.

    Attributes:
        classes: name -> class name; several names may share one class; a name mapped to "" is
            skipped. Names are compared case-insensitively after trimming.
        use_terminology: name a segment by its terminology type (e.g. "Liver") when it has one
            other than Slicer's generic default "Tissue" (default); the segment name otherwise.
        skip_unmapped: skip segments whose name is not in ``classes`` (default: class = name).
    """

    classes: Mapping[str, str] = field(default_factory=dict)
    use_terminology: bool = True
    skip_unmapped: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", {_key(k): str(v).strip() for k, v in self.classes.items()})

    def class_of(self, segment_name: str, terminology: str | None = None) -> str | None:
        """The class of a segment, or None when it is skipped."""
        name = segment_name
        if self.use_terminology and terminology:
            name = terminology_name(terminology) or segment_name
        if _key(name) in self.classes:
            return self.classes[_key(name)] or None
        if self.skip_unmapped:
            return None
        return name.strip() or None

    def to_dict(self) -> dict:
        return {
            "classes": dict(self.classes),
            "use_terminology": self.use_terminology,
            "skip_unmapped": self.skip_unmapped,
        }


def _key(name: str) -> str:
    return str(name).strip().lower()


GENERIC_TERMINOLOGY_TYPES = ("85756007",)  # SCT "Tissue": the entry Slicer gives every new segment


def terminology_name(entry: str) -> str | None:
    """The structure named by a serialised Slicer terminology entry, or None.

    The entry (segment tag "TerminologyEntry") is ``context~category~type~typeModifier~regionContext~
    region~regionModifier`` with codes ``scheme^value^meaning``. The name is the type's meaning,
    preceded by its modifier's meaning ("Right Kidney"); None for an empty or generic type.
    """
    fields = entry.split("~")
    if len(fields) < 4:
        return None
    code = fields[2].split("^")
    if len(code) < 3 or not code[2].strip() or code[1] in GENERIC_TERMINOLOGY_TYPES:
        return None
    modifier = fields[3].split("^")
    prefix = modifier[2].strip() + " " if len(modifier) >= 3 and modifier[2].strip() else ""
    return prefix + code[2].strip()


def parse_class_table(text: str) -> dict[str, str]:
    """A mapping table from lines ``segment name = class`` (or ``name -> class``; empty class = skip).

    Blank lines and lines starting with ``#`` are ignored.

    Raises:
        ValueError: a line without "=" or "->", quoted with its number.
    """
    classes = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        separator = "->" if "->" in line else "="
        if separator not in line:
            raise ValueError(f"class table line {number} has no '=' or '->': {line!r}")
        name, target = line.split(separator, 1)
        classes[name.strip()] = target.strip()
    return classes

