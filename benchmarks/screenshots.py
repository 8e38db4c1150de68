"""Screenshots of a real Sli2Vol propagation, rendered headless from real Slicer views (trame-slicer).

One labelled case of DATA_DIR (the shared manifest format): for each chosen structure one slice is
annotated from the label as the evaluation protocol does (drawn near the largest slice, same seed),
the segments are propagated through the MRML logic layer (``Sli2VolLogic`` with the bundled model,
written with ``EditorLogicWriter`` as the module panel does), the Dice against the label is printed,
and Slicer's slice and 3-D views are rendered offscreen to PNG:

- ``sli2vol_painted.png``: the red (axial) view at the annotated slice, before propagation;
- ``sli2vol_propagated.png``: red view at another slice, coronal and sagittal views, after propagation;
- ``sli2vol_3d.png``: the propagated segments in the 3-D view.

trame-slicer pins its own slicer-core and vtk, so it runs in its own virtual environment:

    python3 -m venv VENV && VENV/bin/pip install "trame-slicer[standalone]" torch SimpleITK scipy
    PYTHONPATH=Sli2VolSegment VENV/bin/python benchmarks/screenshots.py DATA_DIR -o Resources/Screenshots

(EGL/Mesa offscreen rendering; on Debian: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri.)
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import slicer
from PIL import Image
from sli2vol.evaluation.protocol import annotated_slice, slice_rng
from sli2vol.metrics import dice
from Sli2VolSegmentLib import EditorLogicWriter, PropagationOptions, Sli2VolLogic
from trame_slicer.core import SlicerApp
from trame_slicer.views import DirectViewFactory, ViewLayoutDefinition
from vtkmodules.util.numpy_support import numpy_to_vtk, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkStringArray
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4
from vtkmodules.vtkRenderingCore import vtkWindowToImageFilter

SEGMENT_COLOURS = [(0.87, 0.55, 0.25), (0.35, 0.65, 0.95), (0.55, 0.85, 0.35), (0.9, 0.4, 0.6)]


def find_case(data_dir: Path, case_id: str) -> dict:
    manifest = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    for case in manifest["cases"]:
        if case["case_id"] == case_id and case.get("label"):
            return case
    raise SystemExit(f"error: no labelled case {case_id!r} in {data_dir / 'manifest.json'}")


def as_array(volume_node) -> np.ndarray:
    """(K, J, I) copy of a volume node's voxels."""
    image = volume_node.GetImageData()
    dims = image.GetDimensions()
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[2], dims[1], dims[0]).copy()


def ijk_to_ras(volume_node, kji) -> tuple:
    matrix = vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return tuple(matrix.MultiplyPoint([float(kji[2]), float(kji[1]), float(kji[0]), 1.0])[:3])


def paint_segments(app, volume_node, label_node, truth, painted: dict, names: dict):
    """A segmentation node holding, per structure, only its annotated slice (label -> painted slice) of
    ``truth``, the (K, J, I) label array of ``label_node``."""
    annotation = np.zeros(truth.shape, np.uint8)
    for value, (label, k) in enumerate(painted.items(), start=1):
        annotation[k][truth[k] == label] = value
    annotation_node = app.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "annotation")
    annotation_node.CopyOrientation(label_node)
    image = vtkImageData()
    image.SetDimensions(truth.shape[2], truth.shape[1], truth.shape[0])
    image.GetPointData().SetScalars(numpy_to_vtk(annotation.ravel(), deep=True))
    annotation_node.SetAndObserveImageData(image)
    segmentation = app.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Sli2Vol")
    segmentation.CreateDefaultDisplayNodes()
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
    app.segmentations_logic.ImportLabelmapToSegmentationNode(annotation_node, segmentation)
    app.scene.RemoveNode(annotation_node)
    ids = vtkStringArray()
    segmentation.GetSegmentation().GetSegmentIDs(ids)
    segment_ids = [ids.GetValue(n) for n in range(ids.GetNumberOfValues())]
    for n, (segment_id, label) in enumerate(zip(segment_ids, painted)):
        segment = segmentation.GetSegmentation().GetSegment(segment_id)
        segment.SetName(names[label])
        segment.SetColor(*SEGMENT_COLOURS[n % len(SEGMENT_COLOURS)])
    return segmentation, segment_ids


def segment_array(app, segmentation, segment_id, volume_node) -> np.ndarray:
    """(K, J, I) bool of one segment on the volume's grid, read back from the scene."""
    node = app.scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "export")
    ids = vtkStringArray()
    ids.InsertNextValue(segment_id)
    app.segmentations_logic.ExportSegmentsToLabelmapNode(segmentation, ids, node, volume_node)
    array = as_array(node) > 0
    app.scene.RemoveNode(node)
    return array


def capture(view, size) -> Image.Image:
    view.render_window().SetSize(*size)
    view.render()
    grab = vtkWindowToImageFilter()
    grab.SetInput(view.render_window())
    grab.Update()
    output = grab.GetOutput()
    width, height, _ = output.GetDimensions()
    pixels = vtk_to_numpy(output.GetPointData().GetScalars()).reshape(height, width, -1)[::-1, :, :3]
    return Image.fromarray(np.ascontiguousarray(pixels))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    parser.add_argument("--case", default="chaos_01")
    parser.add_argument("--structures", nargs="+", default=["liver", "spleen"])
    parser.add_argument("--seed", type=int, default=0, help="evaluation seed of the annotated slice")
    parser.add_argument("--size", type=int, default=360, help="pixels per slice view")
    parser.add_argument("--offset", type=int, default=4, help="slices between the annotated and the shown slice")
    args = parser.parse_args(argv)

    case = find_case(args.data_dir, args.case)
    by_name = {name: int(label) for label, name in case["labels"].items()}
    missing = [s for s in args.structures if s not in by_name]
    if missing:
        raise SystemExit(f"error: {args.case} has no structure {missing}; it has {sorted(by_name)}")

    app = SlicerApp()
    app.view_manager.register_factory(DirectViewFactory(do_render_offscreen=True))
    views = {name: app.view_manager.create_view(definition) for name, definition in (
        ("Red", ViewLayoutDefinition.axial_view()), ("Green", ViewLayoutDefinition.coronal_view()),
        ("Yellow", ViewLayoutDefinition.sagittal_view()), ("3D", ViewLayoutDefinition.threed_view()))}
    volume = app.io_manager.load_volumes([str(args.data_dir / case["image"])])[-1]
    label_node = app.volumes_logic.AddArchetypeVolume(str(args.data_dir / case["label"]), "label", 1)
    for name in ("Red", "Green", "Yellow"):
        views[name].set_background_volume_id(volume.GetID())

    truth = as_array(label_node)
    painted = {}
    for structure in args.structures:
        label = by_name[structure]
        painted[label], _ = annotated_slice(truth == label, 0, slice_rng(args.seed, args.case, label))
    segmentation, segment_ids = paint_segments(app, volume, label_node, truth, painted,
                                               {label: name for name, label in by_name.items()})
    app.scene.RemoveNode(label_node)  # only its voxels were needed; not a displayed layer
    first_label, first_slice = next(iter(painted.items()))
    centre = np.argwhere(truth[first_slice] == first_label).mean(axis=0)
    shown = (first_slice, *centre)
    side = (args.size, args.size)

    for name in ("Red", "Green", "Yellow"):
        views[name].fit_view_to_content()  # before jumping: fitting also recentres the slices
    slicer.vtkMRMLSliceNode.JumpAllSlices(app.scene, *ijk_to_ras(volume, shown), slicer.vtkMRMLSliceNode.OffsetJumpSlice)
    args.output.mkdir(parents=True, exist_ok=True)
    capture(views["Red"], side).save(args.output / "sli2vol_painted.png", optimize=True)

    start = time.perf_counter()
    logic = Sli2VolLogic()
    outcome = logic.propagate(volume, segmentation, PropagationOptions(segment_ids=segment_ids, view="Red"),
                              progress=lambda done, total: print(f"\rpropagating {done}/{total}", end=""))
    logic.apply(outcome, EditorLogicWriter.for_nodes(app.scene, volume, segmentation))
    print(f"\npropagated and applied in {time.perf_counter() - start:.1f} s on {outcome.device}")
    for label, segment_id in zip(painted, segment_ids):
        score = dice(segment_array(app, segmentation, segment_id, volume), truth == label)
        print(f"{case['labels'][str(label)]}: annotated slice {painted[label]}, Dice {100 * score:.1f}")
    name_of = dict(zip(segment_ids, args.structures))
    print("least confident (structure, slice, confidence):",
          [(name_of[s.segment_id], s.slice_index, round(s.confidence, 2)) for s in outcome.least_confident_slices(5)])

    away = min(max(first_slice + args.offset, 0), truth.shape[0] - 1)
    slicer.vtkMRMLSliceNode.JumpAllSlices(app.scene, *ijk_to_ras(volume, (away, *centre)),
                                          slicer.vtkMRMLSliceNode.OffsetJumpSlice)
    panels = [capture(views[name], side) for name in ("Red", "Green", "Yellow")]
    strip = Image.new("RGB", (args.size * 3 + 8, args.size), (40, 40, 40))
    for n, panel in enumerate(panels):
        strip.paste(panel, (n * (args.size + 4), 0))
    strip.save(args.output / "sli2vol_propagated.png", optimize=True)

    segmentation.CreateClosedSurfaceRepresentation()
    views["3D"].reset_camera()
    views["3D"].reset_view()
    capture(views["3D"], (args.size * 3 // 2, args.size)).save(args.output / "sli2vol_3d.png", optimize=True)
    print(f"screenshots in {args.output}")


if __name__ == "__main__":
    main()
