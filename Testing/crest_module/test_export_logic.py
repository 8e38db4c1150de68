"""Export of patches from a slicer-core scene: counts, labels, volume ids, split, centres, atomic writing."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import slicer
from crest_scene import BACKGROUND, INTENSITY, add_segment, add_segmented_volume, ijk_to_ras
from crest_tools.dataset_format import load_dataset
from crest_tools.export_settings import ClassMapping, ExportSettings, parse_class_table, terminology_name
from crest_tools.patch_export import export_settings_of, write_export
from crest_tools.patch_sampling import patches_for_segment
from CReSTToolsLib.export_logic import plan_scene_export, volume_ids

MAPPING = ClassMapping(parse_class_table("left kidney = kidney\nskip me ="))
# window 0..255 keeps the synthetic intensities (all < 255) unchanged in the uint8 patches
SETTINGS = ExportSettings(
    planes=("axial", "coronal"), patch_px=9, patch_mm=9.0, channels=3, window=(0, 255),
    voxels_per_patch=24, max_patches_per_segment=20, unlabelled_per_volume=5, test_fraction=0.34, seed=3,
)
VOXELS = {"liver": 1152, "spleen": 216, "kidney": 48}
SEGMENTS = {"axial": ("liver", "spleen", "kidney"), "oblique": ("liver", "spleen", "kidney"), "finer": ("liver", "kidney")}


def scene_state(scene, pairs):
    """Everything the export must leave unchanged: node count, voxels, segment names and labelmaps."""
    from CReSTToolsLib.node_arrays import segment_array

    state = [scene.GetNumberOfNodes()]
    for volume, segmentation in pairs:
        state.append(slicer.util.arrayFromVolume(volume).copy())
        if segmentation is not None:
            seg = segmentation.GetSegmentation()
            for i in range(seg.GetNumberOfSegments()):
                state.append(seg.GetNthSegment(i).GetName())
                state.append(segment_array(segmentation, seg.GetNthSegmentID(i))[0].copy())
    return state


def assert_same_state(before, after):
    assert len(before) == len(after)
    for a, b in zip(before, after):
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def test_export_counts_labels_split_and_centres(synthetic_scene, tmp_path):
    scene, pairs = synthetic_scene
    before = scene_state(scene, pairs)
    plan = plan_scene_export(pairs, SETTINGS, MAPPING)
    summary = plan.summary

    # one test volume out of the three segmented ones; the unsegmented one is unlabelled
    assert [len(summary.volumes[s]) for s in ("labelled", "unlabelled", "test")] == [2, 1, 1]
    assert plan.split["plain"] == "unlabelled"
    per_plane = {name: patches_for_segment(v, SETTINGS) for name, v in VOXELS.items()}
    assert per_plane == {"liver": 20, "spleen": 9, "kidney": 2}
    for part in ("labelled", "test"):
        expected = {name: 0 for name in VOXELS}
        for volume in summary.volumes[part]:
            for name in SEGMENTS[volume]:
                expected[name] += 2 * per_plane[name]  # two planes
        assert dict(zip(summary.class_names, summary.counts[part])) == expected
    training = [v for v in ("axial", "oblique", "finer", "plain") if plan.split[v] != "test"]
    assert summary.unknown == 2 * 5 * len(training)
    assert summary.class_names[0] == "liver" and "skip me" not in summary.class_names
    assert summary.imbalance_ratio == pytest.approx(summary.counts["labelled"][0] / min(summary.counts["labelled"]))
    assert "imbalance ratio" in summary.text()

    manifest = write_export(plan, tmp_path / "dataset")
    dataset = load_dataset(manifest)
    assert dataset.images.shape[1:] == (3, 9, 9)
    assert_same_state(before, scene_state(scene, pairs))

    # every patch centre holds its class's intensity; unknown-class centres hold the background
    centre = np.rint(dataset.images[:, 1, 4, 4] * 255).astype(int)
    value_of = {i: INTENSITY[name] for i, name in enumerate(dataset.class_names)}
    for index, label in enumerate(dataset.labels):
        assert centre[index] == (value_of[int(label)] if label >= 0 else BACKGROUND)
    # volume ids and split per patch follow the volume split
    for part, index in dataset.splits.items():
        volumes = set(training) if part == "unlabelled" else set(summary.volumes[part])  # + unknown-class patches
        assert {dataset.volume_ids[i] for i in index} == volumes
        assert np.array_equal(np.bincount(dataset.labels[index][dataset.labels[index] >= 0],
                                          minlength=3), summary.counts[part])
    assert (dataset.labels[dataset.splits["unlabelled"]] == -1).sum() == summary.unknown
    stored, section = export_settings_of(manifest)
    assert stored == SETTINGS and section["class_mapping"]["classes"] == {"left kidney": "kidney", "skip me": ""}


def test_same_seed_same_export_and_other_seed_other_split(synthetic_scene):
    _, pairs = synthetic_scene
    first, again = plan_scene_export(pairs, SETTINGS, MAPPING), plan_scene_export(pairs, SETTINGS, MAPPING)
    assert first.split == again.split
    assert all(np.array_equal(a.class_centres["liver"], b.class_centres["liver"])
               for a, b in zip(first.volumes[:3], again.volumes[:3]))
    splits = {tuple(sorted(plan_scene_export(pairs, replace(SETTINGS, seed=s),
                                             MAPPING).summary.volumes["test"])) for s in range(6)}
    assert len(splits) > 1


def test_fixed_split_and_missing_class_is_refused_before_writing(synthetic_scene, tmp_path):
    _, pairs = synthetic_scene
    plan = plan_scene_export(pairs, SETTINGS, MAPPING, fixed_split={"axial": "test", "oblique": "test"})
    assert plan.summary.volumes["labelled"] == ["finer"]
    assert plan.summary.missing_labelled() == ["spleen"]
    with pytest.raises(ValueError, match=r"classes without labelled patches: \['spleen'\]"):
        write_export(plan, tmp_path / "dataset")
    assert not (tmp_path / "dataset").exists() and list(tmp_path.iterdir()) == []


def test_export_without_unlabelled_patches_is_refused_before_writing(synthetic_scene, tmp_path):
    _, pairs = synthetic_scene
    # no patches per volume: the unsegmented volume gives none, and no segmented volume is unlabelled
    settings = replace(SETTINGS, unlabelled_per_volume=0)
    plan = plan_scene_export(pairs, settings, MAPPING)
    assert plan.summary.volumes["unlabelled"] == ["plain"] and not plan.summary.has_unlabelled()
    assert "no unlabelled patches (training needs some)" in plan.summary.text()
    with pytest.raises(ValueError, match="the unlabelled split has no patches"):
        write_export(plan, tmp_path / "dataset")
    assert list(tmp_path.iterdir()) == []
    forced = plan_scene_export(pairs, settings, MAPPING, fixed_split={"oblique": "unlabelled"})
    assert forced.summary.has_unlabelled() and "no unlabelled" not in forced.summary.text()


def test_existing_folder_is_kept_unless_overwrite(synthetic_scene, tmp_path):
    _, pairs = synthetic_scene
    plan = plan_scene_export(pairs, SETTINGS, MAPPING)
    folder = tmp_path / "dataset"
    folder.mkdir()
    (folder / "keep.txt").write_text("old")
    with pytest.raises(ValueError, match="already exists"):
        write_export(plan, folder)
    assert (folder / "keep.txt").read_text() == "old"
    write_export(plan, folder, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "manifest.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["dataset"]


def test_terminology_names_the_class_unless_switched_off(synthetic_scene):
    _, pairs = synthetic_scene
    volume, segmentation = pairs[0]
    logic = slicer.vtkSlicerTerminologiesModuleLogic
    spleen = segmentation.GetSegmentation().GetSegment(
        segmentation.GetSegmentation().GetSegmentIdBySegmentName("spleen"))
    spleen.SetTerminology(logic.SerializeTerminologyEntry(
        "Segmentation category and type - 3D Slicer General Anatomy list", "123037004", "SCT",
        "Anatomical Structure", "78961009", "SCT", "Spleen", "", "", "", "", "", "", "", "", "", ""))
    default_entry = slicer.vtkSegment().GetTerminology()
    assert "^Tissue~" in default_entry and terminology_name(default_entry) is None  # generic default ignored
    plan = plan_scene_export([(volume, segmentation)], ExportSettings(test_fraction=0.0), ClassMapping())
    assert set(plan.summary.class_names) == {"liver", "Spleen", "kidney"}
    plan = plan_scene_export([(volume, segmentation)], ExportSettings(test_fraction=0.0),
                             ClassMapping(use_terminology=False))
    assert set(plan.summary.class_names) == {"liver", "spleen", "kidney"}


def test_bad_settings_quote_the_value():
    with pytest.raises(ValueError, match="channels must be odd and >= 1, got 2"):
        ExportSettings(channels=2)
    with pytest.raises(ValueError, match=r"planes must be distinct names .* got \['axial', 'top'\]"):
        ExportSettings(planes=("axial", "top"))
    with pytest.raises(ValueError, match="line 2 has no '=' or '->'"):
        parse_class_table("a = b\nnonsense")
    with pytest.raises(ValueError, match=r"unknown export settings \['size'\]"):
        ExportSettings.from_dict({"size": 3})
    assert json.loads(json.dumps(ExportSettings().to_dict())) == ExportSettings().to_dict()


def test_segmentation_choices_put_the_volumes_own_segmentation_first(synthetic_scene):
    from CReSTToolsLib.export_logic import segmentation_choices

    _, pairs = synthetic_scene
    segmentations = [s for _, s in pairs if s is not None]
    for volume, own in pairs:
        choices, preselect = segmentation_choices(volume, list(reversed(segmentations)))
        assert sorted(s.GetID() for s in choices) == sorted(s.GetID() for s in segmentations)
        if own is None:  # nothing references "plain": scene order as given, nothing preselected
            assert not preselect and choices == list(reversed(segmentations))
        else:
            assert preselect and choices[0] is own


def test_empty_segments_are_skipped_and_named_in_the_summary(synthetic_scene, tmp_path):
    scene, pairs = synthetic_scene
    reference = plan_scene_export(pairs, SETTINGS, MAPPING).summary
    pairs[1][1].GetSegmentation().AddEmptySegment("", "tumour")  # no voxel at all
    # drawn outside the volume, on the same grid (another grid would make Slicer resample the shared labelmap)
    add_segment(pairs[0][1], "far away", np.ones((2, 2, 2), bool), ijk_to_ras(origin=(200, 200, 200)))
    pairs[2][1].GetSegmentation().AddEmptySegment("", "skip me")  # skipped by the mapping anyway: not reported
    blank = add_segmented_volume(scene, "blank", [], ijk_to_ras())
    blank[1].GetSegmentation().AddEmptySegment("", "liver")
    with pytest.raises(ValueError, match="no segment to export: every segment is empty or skipped"):
        plan_scene_export([blank], SETTINGS, MAPPING)

    plan = plan_scene_export([*pairs, blank], SETTINGS, MAPPING)
    summary = plan.summary
    assert summary.empty_segments == {"axial": ["far away"], "oblique": ["tumour"], "blank": ["liver"]}
    assert "segments without voxels on their volume (skipped): axial: far away; oblique: tumour; blank: liver" \
        in summary.text()
    # the other segments export as before; a volume with only empty segments is unlabelled
    assert (summary.class_names, summary.counts, summary.volumes["test"]) == \
        (reference.class_names, reference.counts, reference.volumes["test"])
    assert plan.split["blank"] == "unlabelled" and summary.unknown == reference.unknown + 2 * 5
    _, section = export_settings_of(write_export(plan, tmp_path / "dataset"))
    assert section["summary"]["empty_segments"] == summary.empty_segments


def test_volumes_with_the_same_name_stay_apart(scene, tmp_path):
    organs = [("liver", "liver"), ("spleen", "spleen"), ("kidney", "kidney")]
    pairs = [add_segmented_volume(scene, "patient", organs, ijk_to_ras()),
             add_segmented_volume(scene, "patient", organs[:1] + organs[2:], ijk_to_ras()),  # no spleen
             add_segmented_volume(scene, "other", organs, ijk_to_ras())]
    ids = volume_ids([volume for volume, _ in pairs])
    assert ids == [f"patient ({pairs[0][0].GetID()})", f"patient ({pairs[1][0].GetID()})", "other"]

    plan = plan_scene_export(pairs, SETTINGS, MAPPING, fixed_split={ids[0]: "labelled", ids[1]: "test"})
    assert plan.split == {ids[0]: "labelled", ids[1]: "test", "other": "labelled"}  # one free volume: not test
    dataset = load_dataset(write_export(plan, tmp_path / "dataset"))
    spleen = dataset.class_names.index("spleen")
    patches_of = {name: np.flatnonzero(np.asarray(dataset.volume_ids) == name) for name in ids}
    assert all(len(index) for index in patches_of.values())
    assert not np.any(dataset.labels[patches_of[ids[1]]] == spleen)  # the second "patient" has no spleen
    assert np.any(dataset.labels[patches_of[ids[0]]] == spleen)
    assert set(patches_of[ids[1]]) <= set(dataset.splits["test"])  # labelled patches never come from it
    assert not set(patches_of[ids[0]]) & set(dataset.splits["test"])

    # a third volume literally named like a generated id is refused, never merged into it
    pairs.append(add_segmented_volume(scene, ids[1], organs, ijk_to_ras()))
    with pytest.raises(ValueError, match="volume ids must be unique"):
        plan_scene_export(pairs, SETTINGS, MAPPING)
