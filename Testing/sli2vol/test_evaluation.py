"""The evaluation protocol: slice draw, Dice, optical-flow baseline, methods, ``sli2vol evaluate`` end to end."""
import json

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage
from sli2vol.cli import main
from sli2vol.errors import InputError
from sli2vol.evaluation.cases import (
    Case,
    assign_halves,
    cases_from_manifest,
    load_case,
    select_split,
    target_group,
)
from sli2vol.evaluation.methods import method_specs
from sli2vol.evaluation.optical_flow import propagate_optical_flow
from sli2vol.evaluation.overlays import crop_box
from sli2vol.evaluation.protocol import NEIGHBOURHOOD, annotated_slice, slice_rng
from sli2vol.metrics import dice, largest_slice
from sli2vol.phantom import make_phantom

LABELS = {"0": "background", "1": "liver", "2": "left kidney"}


def _write(array, path, spacing=(1.0, 1.0, 2.0)):
    img = sitk.GetImageFromArray(array)
    img.SetSpacing(spacing)
    sitk.WriteImage(img, str(path))


@pytest.fixture
def data_folder(tmp_path):
    """A 2-case manifest folder of small phantoms (plus one unlabelled entry that must be skipped)."""
    cases = []
    for n, seed in enumerate((21, 22)):
        image, labels, spacing = make_phantom(shape=(24, 64, 64), seed=seed)
        _write(image.astype(np.int16), tmp_path / f"p{n}_image.nii.gz", tuple(reversed(spacing)))
        _write(labels, tmp_path / f"p{n}_label.nii.gz", tuple(reversed(spacing)))
        cases.append({"dataset": "phantoms", "case_id": f"p{n}", "image": f"p{n}_image.nii.gz",
                      "label": f"p{n}_label.nii.gz", "labels": LABELS})
    cases.append({"dataset": "unlabelled", "case_id": "u0", "image": "p0_image.nii.gz", "label": None})
    (tmp_path / "manifest.json").write_text(json.dumps({"cases": cases}))
    return tmp_path


def test_annotated_slice_near_largest_and_reproducible(phantom):
    truth = phantom[1] == 1
    largest = largest_slice(truth, True)
    draws = []
    for seed in range(30):
        index, reported = annotated_slice(truth, 0, slice_rng(seed, "case", 1))
        assert reported == largest and abs(index - largest) <= NEIGHBOURHOOD and truth[index].any()
        assert annotated_slice(truth, 0, slice_rng(seed, "case", 1))[0] == index
        draws.append(index)
    assert len(set(draws)) >= 4
    first = slice_rng(0, "case", 1).random()
    assert first == slice_rng(0, "case", 1).random()
    assert first not in (slice_rng(0, "other", 1).random(), slice_rng(0, "case", 2).random(), slice_rng(1, "case", 1).random())


def test_annotated_slice_clipped_to_volume_and_structure():
    truth = np.zeros((10, 8, 8), bool)
    truth[0:3, 2:6, 2:6] = True
    truth[1, 1:7, 1:7] = True  # largest slice 1: neighbourhood 0..4, structure only on 0..2
    truth = np.moveaxis(truth, 0, 2)
    drawn = {annotated_slice(truth, 2, slice_rng(s, "c", 1))[0] for s in range(40)}
    assert drawn == {0, 1, 2}


@pytest.mark.parametrize("a,b,expected", [((0, 10), (5, 15), 0.5), ((0, 10), (0, 10), 1.0), ((0, 4), (6, 10), 0.0),
                                          ((0, 0), (0, 0), 1.0), ((0, 10), (0, 0), 0.0)])
def test_dice(a, b, expected):
    x, y = np.zeros((2, 4, 16), bool), np.zeros((2, 4, 16), bool)
    x[1, 2, a[0]:a[1]] = True
    y[1, 2, b[0]:b[1]] = True
    assert dice(x, y) == pytest.approx(expected)


def test_optical_flow_follows_translating_structure():
    rng = np.random.default_rng(0)
    base = ndimage.gaussian_filter(rng.normal(size=(96, 96)), 2.0) * 400
    yy, xx = np.mgrid[0:96, 0:96]
    disk = (yy - 48) ** 2 + (xx - 30) ** 2 <= 12 ** 2
    base[disk] += 300
    shifts = range(-10, 11)  # one pixel per slice along x
    image = np.stack([np.roll(base, s, axis=1) for s in shifts]).astype(np.float32)
    truth = np.stack([np.roll(disk, s, axis=1) for s in shifts])
    image = np.moveaxis(image, 0, 1)  # slices along axis 1
    truth = np.moveaxis(truth, 0, 1)
    pred = propagate_optical_flow(image, truth[:, 10], 10, axis=1)
    assert pred[:, 10].sum() == truth[:, 10].sum()
    assert dice(pred, truth) > 0.8
    assert dice(pred[:, 0], truth[:, 0]) > 0.7  # the far ends are reached too


def test_target_groups():
    assert target_group("Right Kidney") == "kidney"
    assert target_group("left adrenal gland") == "adrenal"
    assert target_group("left atrium (cavity)") == "left atrium"
    assert target_group("liver") == "liver"
    assert target_group("left ventricle blood pool") is None


def _cases(dataset: str, n: int) -> list:
    return [Case(dataset, f"{dataset}_{k:02d}", None, None, {1: "liver"}) for k in range(n)]


def test_halves_seeded_balanced_and_per_dataset():
    cases = _cases("a", 7) + _cases("b", 4)
    halves = {c.case_id: c.half for c in assign_halves(cases, seed=0)}
    assert sum(h == "tuning" for k, h in halves.items() if k.startswith("a")) == 4  # 7 cases: 4 tune, 3 check
    assert sum(h == "tuning" for k, h in halves.items() if k.startswith("b")) == 2
    shuffled = [cases[k] for k in np.random.default_rng(3).permutation(len(cases))]
    assert {c.case_id: c.half for c in assign_halves(shuffled, seed=0)} == halves  # order does not matter
    alone = {c.case_id: c.half for c in assign_halves(_cases("a", 7), seed=0)}
    assert alone == {k: h for k, h in halves.items() if k.startswith("a")}  # other datasets do not matter
    draws = {tuple(c.half for c in assign_halves(cases, seed=s)) for s in range(6)}
    assert len(draws) > 1  # the seed changes the split
    assigned = assign_halves(cases, seed=0)
    checking = select_split(assigned, "checking")
    assert {c.case_id for c in checking} == {k for k, h in halves.items() if h == "checking"}
    assert [c.case_id for c in select_split(assigned, "tuning", max_cases=1)] == \
        [next(c.case_id for c in assigned if c.half == "tuning" and c.dataset == d) for d in ("a", "b")]
    assert len(select_split(assigned, "all")) == 11
    with pytest.raises(InputError, match="split must be one of"):
        select_split(assigned, "half")


def test_method_names():
    both = [m.name for m in method_specs({"edge": "e.pt", "raw": "r.pt"})]
    assert both == ["optical_flow", "network", "+edge", "+verification", "full", "improved"]
    assert [(m.model, m.verification, m.paper_engine) for m in method_specs({"edge": "e", "raw": "r"})[1:]] == \
        [("raw", False, True), ("edge", False, True), ("raw", True, True), ("edge", True, True), ("edge", True, False)]
    assert [m.name for m in method_specs({"edge": "e.pt"})] == ["optical_flow", "no_verification", "full", "improved"]
    assert method_specs({"edge": "e.pt"}, ["edge+verification"])[0].verification
    with pytest.raises(InputError, match="unknown methods"):
        method_specs({"edge": "e.pt"}, ["network"])


def test_evaluate_end_to_end(data_folder, tmp_path, trained_model_path, capsys, restore_threads):
    out = tmp_path / "out"
    args = ["evaluate", str(data_folder), "-o", str(out), "--model", f"edge={trained_model_path}", "--quiet", "--seed", "5",
            "--threads", "1"]
    assert main(args) == 0
    result = json.loads((out / "results.json").read_text(encoding="utf-8"))
    records = result["records"]
    assert result["complete"] and len(records) == 2 * 2 * 4
    assert {r["method"] for r in records} == {"optical_flow", "no_verification", "full", "improved"}
    assert {r["structure"] for r in records} == {"liver", "left kidney"}
    assert {r["case_id"] for r in records} == {"p0", "p1"}
    for key in {(r["case_id"], r["label"]) for r in records}:
        assert len({r["annotated_slice"] for r in records if (r["case_id"], r["label"]) == key}) == 1
    assert all(0.0 <= r["dice"] <= 1.0 and r["seconds"] > 0 for r in records)
    assert np.mean([r["dice"] for r in records if r["method"] == "full"]) > 0.7
    assert result["meta"]["models"]["edge"]["sha256"]
    markdown = (out / "results.md").read_text(encoding="utf-8")
    assert "| phantoms | left kidney | 2 |" in markdown and "| kidney | 2 |" in markdown
    assert "mean over structures" in markdown and "full" in markdown
    assert sorted(r["half"] for r in records if r["method"] == "full" and r["structure"] == "liver") == \
        ["checking", "tuning"]
    assert "## Tuning half (1 cases)" in markdown and "## Checking half (1 cases)" in markdown
    assert set(result["summary_by_half"]) == {"tuning", "checking"}
    pngs = sorted((out / "overlays").glob("*.png"))
    assert len(pngs) == 12 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    assert sorted(p.name for p in pngs) == sorted(result["overlays"])

    before = (out / "results.json").read_bytes()
    assert main(args) == 1
    assert "use --force" in capsys.readouterr().err
    assert (out / "results.json").read_bytes() == before
    assert main(args + ["--force", "--methods", "optical_flow", "--structures", "kidney", "--split", "checking"]) == 0
    records = json.loads((out / "results.json").read_text(encoding="utf-8"))["records"]
    assert {(r["method"], r["structure"], r["half"]) for r in records} == {("optical_flow", "left kidney", "checking")}
    assert len(records) == 1 and "Checking half" not in (out / "results.md").read_text(encoding="utf-8")
    assert len(list((out / "overlays").glob("*.png"))) == 1  # the first run's overlays are replaced


def test_evaluate_in_worker_processes_matches_one_process(data_folder, tmp_path, trained_model_path, restore_threads):
    base = ["evaluate", str(data_folder), "--model", str(trained_model_path), "--quiet", "--threads", "1",
            "--methods", "optical_flow", "improved", "--worst", "2"]
    assert main(base + ["-o", str(tmp_path / "one")]) == 0
    assert main(base + ["-o", str(tmp_path / "two"), "--workers", "2"]) == 0
    one, two = (json.loads((tmp_path / name / "results.json").read_text(encoding="utf-8")) for name in ("one", "two"))
    keys = ("case_id", "structure", "method", "annotated_slice", "dice", "predicted_voxels")
    assert [[r[k] for k in keys] for r in two["records"]] == [[r[k] for k in keys] for r in one["records"]]
    assert two["complete"] and two["overlays"] == one["overlays"] and len(two["overlays"]) == 4
    assert main(base + ["-o", str(tmp_path / "bad"), "--workers", "0"]) == 2  # refused by the option's validator
    assert main(base + ["-o", str(tmp_path / "bad"), "--threads", "0"]) == 2
    assert not (tmp_path / "bad").exists()


def test_overlay_crop_box():
    region = np.zeros((100, 120), bool)
    region[40:50, 60:100] = True
    assert crop_box(region) == (slice(16, 74), slice(36, 120))
    assert crop_box(np.zeros((5, 5), bool)) == (slice(None), slice(None))


def test_evaluate_image_label_pairs(data_folder, tmp_path):
    out = tmp_path / "pairs"
    rc = main(["evaluate", "--pair", str(data_folder / "p0_image.nii.gz"), str(data_folder / "p0_label.nii.gz"),
               "-o", str(out), "--methods", "optical_flow", "--quiet", "--worst", "1"])
    assert rc == 0
    records = json.loads((out / "results.json").read_text(encoding="utf-8"))["records"]
    assert {r["structure"] for r in records} == {"label 1", "label 2"}
    assert len(list((out / "overlays").glob("*.png"))) == 1


def test_bad_inputs(data_folder, tmp_path, capsys):
    with pytest.raises(InputError, match="no manifest.json"):
        cases_from_manifest(tmp_path / "nowhere")
    with pytest.raises(InputError, match="no labelled cases"):
        cases_from_manifest(data_folder, datasets=["btcv"])
    _write(np.zeros((24, 64, 32), np.uint8), tmp_path / "small_label.nii.gz")
    case = Case("x", "p0", data_folder / "p0_image.nii.gz", tmp_path / "small_label.nii.gz", {1: "liver"})
    with pytest.raises(InputError, match=r"label shape \(24, 64, 32\) .* does not match image shape \(24, 64, 64\)"):
        load_case(case)
    out = str(tmp_path / "o")
    assert main(["evaluate", "-o", out, "--quiet"]) == 1
    assert "either a data folder" in capsys.readouterr().err
    assert main(["evaluate", str(data_folder), "-o", out, "--model", "edge=missing.pt"]) == 1
    assert "model file not found" in capsys.readouterr().err
