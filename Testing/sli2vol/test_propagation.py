"""End-to-end behaviour of the propagation engine with a model trained in the test session."""
import numpy as np
import pytest
from annotations import one_slice_annotation
from sli2vol.engine.directions import recover_boundary
from sli2vol.engine.normalization import centred_window
from sli2vol.engine.propagation import PropagationConfig, paper_config, propagate_volume, working_shape
from sli2vol.engine.verification import VerificationConfig
from sli2vol.errors import InputError, PropagationCancelled
from sli2vol.io.model_io import load_model
from sli2vol.metrics import dice, largest_slice


def test_phantom_propagates_with_high_dice(trained_model_path, phantom):
    image, labels, spacing = phantom
    mask = one_slice_annotation(labels, largest_slice(labels, 1))
    out = propagate_volume(image, mask, spacing, trained_model_path)
    for label in (1, 2):
        assert dice(out == label, labels == label) >= 0.9


def test_roi_equals_full_frame(trained_model_path, phantom):
    image, labels, spacing = phantom
    mask = one_slice_annotation(labels, largest_slice(labels, 2))
    model = load_model(trained_model_path)
    roi = propagate_volume(image, mask, spacing, model, PropagationConfig(use_roi=True))
    full = propagate_volume(image, mask, spacing, model, PropagationConfig(use_roi=False))
    assert (roi != 0).sum() > 1000
    np.testing.assert_array_equal(roi, full)


def test_multi_anchor_keeps_annotations_and_fills_between(trained_model_path, phantom):
    image, labels, spacing = phantom
    z = np.flatnonzero((labels == 1).any(axis=(1, 2)))
    a, b = int(z[2]), int(z[-3])
    mask = np.zeros_like(labels)
    mask[a][labels[a] == 1] = 1
    mask[b][labels[b] == 1] = 1
    mask[b, 0, 0] = 0
    mask_before = mask.copy()
    # the anchors' logic is under test: no zoom for the small end slices (the seconds-trained model
    # matches poorly at zoomed-in scales)
    out = propagate_volume(image, mask, spacing, trained_model_path, PropagationConfig(labels=[1], min_structure_px=0))
    np.testing.assert_array_equal(mask, mask_before)  # input untouched
    for k in (a, b):
        np.testing.assert_array_equal(out[k] == 1, labels[k] == 1)  # annotated slices exact
    between = slice(a + 1, b)
    assert dice(out[between] == 1, labels[between] == 1) >= 0.9
    assert set(np.unique(out)) <= {0, 1}


def test_limits_stop_each_direction(trained_model_path, phantom):
    image, labels, spacing = phantom
    k = largest_slice(labels, 1)
    mask = one_slice_annotation(labels, k)
    out = propagate_volume(image, mask, spacing, trained_model_path,
                           PropagationConfig(max_slices_backward=2, max_slices_forward=5))
    filled = np.flatnonzero(out.any(axis=(1, 2)))
    assert filled.min() == k - 2 and filled.max() == k + 5


def test_other_axes_and_orientation(trained_model_path, phantom):
    """Propagating a transposed volume along axis 2 gives the transposed axis-0 result."""
    image, labels, spacing = phantom
    mask = one_slice_annotation(labels, largest_slice(labels, 1))
    ref = propagate_volume(image, mask, spacing, trained_model_path)
    t = (1, 2, 0)
    out = propagate_volume(np.transpose(image, t), np.transpose(mask, t), tuple(spacing[a] for a in t),
                           trained_model_path)
    np.testing.assert_array_equal(out, np.transpose(ref, t))


def test_anisotropic_in_plane_spacing(trained_model_path, phantom):
    """Slices with 1 x 2 mm pixels (every other column dropped) still propagate well."""
    image, labels, spacing = phantom
    image, labels = image[:, :, ::2], labels[:, :, ::2]
    mask = one_slice_annotation(labels, largest_slice(labels, 1))
    out = propagate_volume(image, mask, (spacing[0], spacing[1], 2.0), trained_model_path)
    assert dice(out == 1, labels == 1) >= 0.85


def test_verification_switch_changes_result(trained_model_path, phantom):
    image, labels, spacing = phantom
    mask = one_slice_annotation(labels, largest_slice(labels, 1))
    on = propagate_volume(image, mask, spacing, trained_model_path)
    off = propagate_volume(image, mask, spacing, trained_model_path,
                           PropagationConfig(verification=VerificationConfig(enabled=False)))
    assert not np.array_equal(on, off)


def test_cancel_raises_and_progress_reports(trained_model_path, phantom):
    image, labels, spacing = phantom
    mask = one_slice_annotation(labels, largest_slice(labels, 1))
    for concurrent in (False, True):
        seen = []
        with pytest.raises(PropagationCancelled):
            propagate_volume(image, mask, spacing, trained_model_path,
                             PropagationConfig(concurrent_directions=concurrent),
                             progress=lambda d, t: seen.append((d, t)), cancel=lambda: len(seen) >= 3)
        total = seen[0][1]
        done = [d for d, _ in seen]
        assert {t for _, t in seen} == {total} and done == sorted(set(done)) and done[-1] < total
        if not concurrent:  # one report per step (concurrent: the steps done since the last poll)
            assert done[:3] == [1, 2, 3]


def test_labels_absent_from_annotation(trained_model_path, phantom):
    image, labels, spacing = phantom
    mask = one_slice_annotation(labels, largest_slice(labels, 1))
    with pytest.raises(InputError, match=r"labels \[9\] are not on any annotated slice"):
        propagate_volume(image, mask, spacing, trained_model_path, PropagationConfig(labels=[1, 9]))


def test_working_shape_is_isotropic_and_zooms_small_structures():
    annotation = np.zeros((1, 100, 50), bool)
    annotation[0, 40:60, 20:30] = True  # 20 rows x 10 columns; columns are 2 mm, rows 1 mm
    assert working_shape(annotation, (1.0, 2.0), PropagationConfig(min_structure_px=0)) == (100, 100)
    # extent on the isotropic grid: 20 px -> zoom 48 / 20 = 2.4
    assert working_shape(annotation, (1.0, 2.0), PropagationConfig(min_structure_px=48)) == (240, 240)
    assert working_shape(annotation, (1.0, 2.0), PropagationConfig(min_structure_px=480, max_zoom=3)) == (300, 300)
    big = np.ones((1, 100, 50), bool)
    assert working_shape(big, (1.0, 2.0), PropagationConfig()) == (100, 100)


def test_working_shape_zooms_out_for_thick_slices_but_keeps_small_structures_large():
    big = np.ones((1, 100, 100), bool)
    # 6 mm slices on 1 mm pixels: one slice gap is 6 px; at most 3 px -> zoom 0.5
    assert working_shape(big, (1.0, 1.0), PropagationConfig(), slice_spacing=6.0) == (50, 50)
    assert working_shape(big, (1.0, 1.0), PropagationConfig(), slice_spacing=2.0) == (100, 100)
    assert working_shape(big, (1.0, 1.0), PropagationConfig(max_slice_step_px=0), slice_spacing=6.0) == (100, 100)
    assert working_shape(big, (1.0, 1.0), paper_config(), slice_spacing=6.0) == (100, 100)
    medium = np.zeros((1, 100, 100), bool)
    medium[0, 20:84, 20:84] = True  # 64 px: zoomed out only down to 48 px
    assert working_shape(medium, (1.0, 1.0), PropagationConfig(), slice_spacing=6.0) == (75, 75)


def test_working_shape_zooms_large_structures_out_to_max_structure_px():
    liver = np.zeros((1, 512, 512), bool)
    liver[0, 100:420, 150:400] = True  # 320 x 250 px
    assert working_shape(liver, (0.7, 0.7), PropagationConfig(max_structure_px=160)) == (256, 256)
    assert working_shape(liver, (0.7, 0.7), PropagationConfig(max_structure_px=0)) == (512, 512)
    assert working_shape(liver, (0.7, 0.7), paper_config()) == (512, 512)
    small = np.zeros((1, 512, 512), bool)
    small[0, 100:200, 100:200] = True
    assert working_shape(small, (0.7, 0.7), PropagationConfig(max_structure_px=160)) == (512, 512)


def test_recover_boundary_adds_only_the_likely_rim():
    kept = np.zeros((20, 20), bool)
    kept[5:15, 5:15] = True
    prob = np.zeros((20, 20), np.float32)
    prob[4:16, 4:16] = 0.3  # a rim one pixel wide with warped value above 0.25
    prob[4, 4:16] = 0.2  # except the top row
    prob[2:18, 18] = 0.9  # likely but not adjacent
    out = recover_boundary(kept, prob, 1, 0.25)
    expected = kept.copy()
    expected[15, 5:15] = expected[5:15, 4] = expected[5:15, 15] = True  # 4-connected rim, not the corners
    np.testing.assert_array_equal(out, expected)
    assert recover_boundary(kept, prob, 0, 0.25) is kept


def test_ct_window_is_centred_on_the_annotation(trained_model_path, phantom):
    """A structure far above the soft-tissue range (bone-like, ~1100 HU) is invisible in the fixed
    [-300, 400] HU window (every voxel but air saturates); the window centred on the annotation
    gives it its contrast back."""
    image, labels, spacing = phantom
    bone = image + 900.0  # HU: structures ~1050-1170, background ~940
    bone[:, :, :6] = bone[:, :, -6:] = -1000.0  # air at the edges: the volume looks like CT
    mask = one_slice_annotation(np.where(labels == 1, 1, 0).astype(labels.dtype), largest_slice(labels, 1))
    model = load_model(trained_model_path)
    centred = dice(propagate_volume(bone, mask, spacing, model) == 1, labels == 1)
    fixed = dice(propagate_volume(bone, mask, spacing, model, PropagationConfig(ct_window_hu=0.0)) == 1, labels == 1)
    assert centred >= 0.9
    assert fixed < centred - 0.1


def test_centred_window_refuses_bad_values():
    assert centred_window(np.array([10.0, 20.0, 1000.0]), 400.0) == (-180.0, 220.0)
    with pytest.raises(InputError, match="empty annotation"):
        centred_window(np.array([]), 400.0)
    with pytest.raises(InputError, match="window width"):
        centred_window(np.array([1.0]), 0.0)
    with pytest.raises(InputError, match="ct_window_hu"):
        PropagationConfig(ct_window_hu=-1.0)
