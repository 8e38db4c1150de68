"""The ``sli2vol`` command line on real files: geometry round trip, formats, errors."""
import os

import numpy as np
import pytest
import SimpleITK as sitk
import slicerio
import torch
from annotations import one_slice_annotation
from sli2vol.cli import main
from sli2vol.metrics import dice, largest_slice

DIRECTION = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # rotated 90 degrees in-plane


def _write(array, path, spacing=(1.0, 1.0, 2.0), origin=(-12.5, 30.0, 7.25)):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(DIRECTION)
    sitk.WriteImage(img, str(path))
    return img


@pytest.fixture
def files(tmp_path, phantom):
    image, labels, spacing = phantom
    mask = one_slice_annotation(labels, largest_slice(labels, 1))
    ref = _write(image.astype(np.int16), tmp_path / "ct.nrrd", spacing=tuple(reversed(spacing)))
    _write(mask, tmp_path / "mask.nii.gz", spacing=tuple(reversed(spacing)))
    return tmp_path, ref, labels


def test_geometry_round_trip(files, trained_model_path):
    folder, ref, labels = files
    out = folder / "out.nii.gz"
    before = (folder / "mask.nii.gz").read_bytes()
    rc = main(["propagate", str(folder / "ct.nrrd"), str(folder / "mask.nii.gz"), "-o", str(out),
               "--model", trained_model_path, "--quiet"])
    assert rc == 0
    result = sitk.ReadImage(str(out))
    np.testing.assert_allclose(result.GetSpacing(), ref.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(result.GetOrigin(), ref.GetOrigin(), atol=1e-4)
    np.testing.assert_allclose(result.GetDirection(), ref.GetDirection(), atol=1e-6)
    arr = sitk.GetArrayFromImage(result)
    assert dice(arr == 1, labels == 1) >= 0.9
    assert (folder / "mask.nii.gz").read_bytes() == before


def test_refuses_to_overwrite_without_force(files, trained_model_path, capsys):
    folder, _, _ = files
    out = folder / "exists.nii.gz"
    out.write_bytes(b"precious")
    args = ["propagate", str(folder / "ct.nrrd"), str(folder / "mask.nii.gz"), "-o", str(out),
            "--model", trained_model_path, "--quiet"]
    assert main(args) == 1
    assert "exists; use --force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert main(args + ["--force"]) == 0
    assert sitk.ReadImage(str(out)).GetSize() == sitk.ReadImage(str(folder / "ct.nrrd")).GetSize()


def test_seg_nrrd_cropped_extent_in_and_out(files, trained_model_path):
    """A Slicer-style .seg.nrrd cropped to the segment's extent is placed on the image grid; the output
    keeps the segment's ID, name, colour and terminology."""
    folder, ref, labels = files
    mask = sitk.ReadImage(str(folder / "mask.nii.gz"))
    idx = np.argwhere(sitk.GetArrayFromImage(mask))
    lo, hi = idx.min(0), idx.max(0) + 1  # (k, j, i)
    cropped = mask[int(lo[2]):int(hi[2]), int(lo[1]):int(hi[1]), int(lo[0]):int(hi[0])]
    tags = ("Segmentation.Status:inprogress|TerminologyEntry:Segmentation category and type - 3D Slicer General "
            "Anatomy list~SCT^123037004^Anatomical Structure~SCT^10200004^Liver~^^~~^^~^^|")
    for key, value in [("ID", "Segment_liver"), ("Name", "liver"), ("LabelValue", "1"), ("Layer", "0"),
                       ("Color", "0.86 0.27 0.2"), ("Tags", tags), ("ID", "Segment_liver")]:
        cropped.SetMetaData(f"Segment0_{key}", value)
    for key, value in [("ID", "Segment_2"), ("Name", "kidney"), ("LabelValue", "2"), ("Layer", "0")]:
        cropped.SetMetaData(f"Segment1_{key}", value)
    sitk.WriteImage(cropped, str(folder / "mask.seg.nrrd"))
    out = folder / "out.seg.nrrd"
    assert main(["propagate", str(folder / "ct.nrrd"), str(folder / "mask.seg.nrrd"), "-o", str(out),
                 "--model", trained_model_path, "--quiet"]) == 0
    result = sitk.ReadImage(str(out))
    assert result.GetSize() == ref.GetSize()
    assert dice(sitk.GetArrayFromImage(result) == 1, labels == 1) >= 0.9
    liver = slicerio.read_segmentation(str(out), skip_voxels=True)["segments"][0]
    assert (liver["id"], liver["name"], liver["color"], liver["status"]) == ("Segment_liver", "liver",
                                                                             [0.86, 0.27, 0.2], "inprogress")
    assert liver["terminology"]["type"] == ["SCT", "10200004", "Liver"]


def test_dicom_series_folder(tmp_path, phantom, trained_model_path):
    image, labels, spacing = phantom
    series = tmp_path / "dicom"
    series.mkdir()
    vol = sitk.GetImageFromArray(image.astype(np.int16))
    vol.SetSpacing(tuple(reversed(spacing)))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for k in range(vol.GetDepth()):
        sl = vol[:, :, k]
        for tag, value in [("0020|000e", "1.2.826.0.1.3680043.2.1125.1"), ("0020|0013", str(k + 1)),
                           ("0020|0032", f"0\\0\\{k * spacing[0]}"), ("0020|0037", "1\\0\\0\\0\\1\\0"),
                           ("0008|0060", "CT"), ("0028|0030", f"{spacing[1]}\\{spacing[2]}"),
                           ("0018|0050", str(spacing[0]))]:
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(series / f"{k:03d}.dcm"))
        writer.Execute(sl)
    mask = one_slice_annotation(labels, largest_slice(labels, 1))
    ref = sitk.ReadImage(sorted(str(p) for p in series.iterdir()))
    m = sitk.GetImageFromArray(mask)
    m.CopyInformation(ref)
    sitk.WriteImage(m, str(tmp_path / "mask.nrrd"))
    assert main(["propagate", str(series), str(tmp_path / "mask.nrrd"), "-o", str(tmp_path / "o.nrrd"),
                 "--model", trained_model_path, "--quiet"]) == 0
    assert dice(sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "o.nrrd"))) == 1, labels == 1) >= 0.9


def test_unwritable_output(files, trained_model_path, capsys):
    """A folder nobody may write to (a read-only one for users, /sys even for root) fails up front."""
    folder, _, _ = files
    locked = folder / "locked"
    locked.mkdir(mode=0o500)
    target = locked if os.geteuid() != 0 else "/sys"
    assert main(["propagate", str(folder / "ct.nrrd"), str(folder / "mask.nii.gz"), "-o", f"{target}/o.nii.gz",
                 "--model", trained_model_path, "--quiet"]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_torchscript_file_that_is_not_a_sli2vol_model(files, tmp_path, capsys):
    folder, _, _ = files
    model = tmp_path / "m.pt"
    torch.jit.save(torch.jit.script(torch.nn.Conv2d(1, 1, 3)), str(model))
    assert main(["propagate", str(folder / "ct.nrrd"), str(folder / "mask.nii.gz"), "-o", str(folder / "o.nii.gz"),
                 "--model", str(model), "--quiet"]) == 1
    assert "not a Sli2Vol model" in capsys.readouterr().err
    assert not (folder / "o.nii.gz").exists()


def test_atomic_output_has_normal_permissions_and_no_leftovers(tmp_path):
    from sli2vol.io.atomic import atomic_path

    target = tmp_path / "out.nii.gz"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"data")
    umask = os.umask(0)
    os.umask(umask)
    assert (target.stat().st_mode & 0o777) == (0o666 & ~umask)
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("failed mid-write")
    assert target.read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.nii.gz"]


def test_paper_engine_flag_maps_to_the_papers_settings():
    from sli2vol.cli import build_parser
    from sli2vol.cli.propagate import config_from_args

    args = build_parser().parse_args(["propagate", "i.nii", "m.nii", "-o", "o.nii", "--paper-engine",
                                      "--convex-solidity", "0.9", "--ct-window-hu", "300"])
    cfg = config_from_args(args, None)
    assert (cfg.verification.rule, cfg.verification.reference, cfg.min_structure_px) == ("mean", "previous", 0)
    assert cfg.verification.convex_solidity == 0.0  # forced off, like every other deviation from the paper
    assert cfg.ct_window_hu == 0.0
    assert (cfg.verification.growth_z, cfg.max_slice_step_px, cfg.boundary_px) == (0.0, 0.0, 0)
    args = build_parser().parse_args(["propagate", "i.nii", "m.nii", "-o", "o.nii", "--no-verification"])
    cfg = config_from_args(args, None)
    assert not cfg.verification.enabled and cfg.verification.rule == "gaussian" and cfg.min_structure_px == 48
    assert (cfg.verification.growth_z, cfg.max_slice_step_px, cfg.boundary_px, cfg.ct_window_hu) == (0.75, 3.0, 1, 700.0)
    args = build_parser().parse_args(["propagate", "i.nii", "m.nii", "-o", "o.nii", "--growth-z", "0",
                                      "--max-slice-step-px", "0", "--boundary-px", "0", "--convex-solidity", "0.5",
                                      "--ct-window-hu", "0"])
    cfg = config_from_args(args, None)
    assert (cfg.verification.growth_z, cfg.max_slice_step_px, cfg.boundary_px) == (0.0, 0.0, 0)
    assert cfg.verification.convex_solidity == 0.5 and cfg.ct_window_hu == 0.0
