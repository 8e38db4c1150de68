"""Self-supervised training: loss, determinism, resume after an interruption, export."""
import json

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from sli2vol.cli import main
from sli2vol.engine.normalization import intensity_window, normalize_intensity
from sli2vol.errors import InputError
from sli2vol.io.model_io import load_model
from sli2vol.phantom import make_phantom
from sli2vol.training.pair_sampling import PairSamplingConfig, Volume, draw_volume, sample_batch
from sli2vol.training.trainer import TrainConfig, TrainingRun, load_checkpoint_encoder, reconstruct, train


@pytest.fixture(scope="module")
def volumes():
    out = []
    for seed in (1, 2):
        image, _, spacing = make_phantom(shape=(24, 64, 64), seed=seed)
        out.append(Volume(normalize_intensity(image, intensity_window(image)), spacing))
    return out


def _cfg(**kw):
    return TrainConfig(steps=8, batch_size=2, checkpoint_every=3, sampling=PairSamplingConfig(crop=32), **kw)


def test_batches_have_shape_range_and_depend_only_on_seed_and_step(volumes):
    cfg = PairSamplingConfig(crop=32)
    a = sample_batch(volumes, 3, seed=4, step=9, rank=0, cfg=cfg)
    assert a.shape == (3, 2, 32, 32) and a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, sample_batch(volumes, 3, seed=4, step=9, rank=0, cfg=cfg))
    assert not torch.equal(a, sample_batch(volumes, 3, seed=4, step=10, rank=0, cfg=cfg))


def test_folder_balance_draws_each_folder_equally_often():
    """Nine CT volumes in one folder, one MR volume in another: drawn per volume the MR one comes up
    about 10% of the time, drawn per folder about 50%."""
    data = np.zeros((4, 8, 8), np.float32)
    volumes = [Volume(data, (1.0, 1.0, 1.0), f"ct{i}", folder="ct") for i in range(9)]
    volumes.append(Volume(data, (1.0, 1.0, 1.0), "mr0", folder="mr"))
    rng = np.random.default_rng(0)
    share = {balance: np.mean([draw_volume(volumes, rng, balance).folder == "mr" for _ in range(2000)])
             for balance in ("volume", "folder")}
    assert 0.07 < share["volume"] < 0.13 and 0.46 < share["folder"] < 0.54
    with pytest.raises(InputError, match="balance"):
        PairSamplingConfig(balance="dataset")


def test_run_written_before_an_option_existed_resumes(volumes, tmp_path):
    """A config.json without the ``balance`` option (written by an older version) resumes with its
    default; a run with another value of it is refused."""
    train(volumes, _cfg(), tmp_path / "run")
    config_path = tmp_path / "run" / "config.json"
    old = json.loads(config_path.read_text())
    del old["sampling"]["balance"]
    config_path.write_text(json.dumps(old))
    assert TrainingRun(tmp_path / "run").check(_cfg()) is True
    with pytest.raises(InputError, match="balance"):
        TrainingRun(tmp_path / "run").check(
            TrainConfig(steps=8, batch_size=2, checkpoint_every=3, sampling=PairSamplingConfig(crop=32, balance="folder")))


def test_training_lowers_reconstruction_error(volumes, tmp_path):
    cfg = TrainConfig(steps=40, batch_size=4, sampling=PairSamplingConfig(crop=48, gaps=(1,)))
    pairs = sample_batch(volumes, 8, seed=99, step=0, rank=0, cfg=cfg.sampling)
    from sli2vol.io.model_io import build_encoder

    before = torch.nn.functional.l1_loss(reconstruct(build_encoder(cfg.network), pairs), pairs[:, 1:2]).item()
    encoder = train(volumes, cfg, tmp_path / "run")
    with torch.no_grad():
        after = torch.nn.functional.l1_loss(reconstruct(encoder, pairs), pairs[:, 1:2]).item()
    assert after < 0.8 * before


def test_deterministic_and_resume_after_interruption(volumes, tmp_path):
    reference = train(volumes, _cfg(), tmp_path / "a")

    def crash(step, loss):
        if step == 7:  # after the checkpoint at step 6: steps 7.. are lost and redone
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(volumes, _cfg(), tmp_path / "b", on_step=crash)
    assert load_checkpoint_encoder(tmp_path / "b")[2] == 6
    resumed = train(volumes, _cfg(), tmp_path / "b")
    for p, q in zip(reference.state_dict().values(), resumed.state_dict().values()):
        torch.testing.assert_close(p, q)


def test_refuses_a_run_dir_with_another_config(volumes, tmp_path):
    train(volumes, _cfg(), tmp_path / "run")
    with pytest.raises(InputError, match=r"different config \(lr: 0\.001 -> 0\.5\)"):
        train(volumes, _cfg(lr=0.5), tmp_path / "run")


def test_cli_train_and_export(tmp_path):
    for seed in (1, 2):
        image, _, _ = make_phantom(shape=(24, 64, 64), seed=seed)
        sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / f"vol{seed}.nii.gz"))
    sitk.WriteImage(sitk.GetImageFromArray(np.zeros((24, 64, 64), np.uint8)), str(tmp_path / "vol1_label.nii.gz"))
    run = tmp_path / "run"
    assert main(["train", str(tmp_path), "--run-dir", str(run), "--steps", "4", "--batch-size", "2", "--crop", "32",
                 "--input", "raw", "--width", "8", "--feature-dim", "12", "--window-radius-px", "4", "--balance", "folder",
                 "--quiet"]) == 0
    model = load_model(run / "model.pt")
    network = model.sli2vol_meta["network"]
    assert (network["input_mode"], network["width"], network["feature_dim"], network["window_radius_px"]) == ("raw", 8, 12, 4)
    assert json.loads((run / "config.json").read_text())["sampling"]["balance"] == "folder"
    assert model.sli2vol_meta["info"]["volumes"] == ["vol1.nii.gz", "vol2.nii.gz"]  # the label file is skipped
    assert model.sli2vol_meta["info"]["step"] == 4 and model.sli2vol_meta["info"]["train_seconds"] > 0
    assert main(["export", str(run), "-o", str(tmp_path / "again.pt")]) == 0
    assert load_model(tmp_path / "again.pt").sli2vol_meta["info"]["step"] == 4
    assert main(["train", str(tmp_path / "nothing_here"), "--run-dir", str(run), "--quiet"]) == 1
    assert main(["train", str(tmp_path), "--run-dir", str(tmp_path / "run0"), "--threads", "0", "--quiet"]) == 2
    assert not (tmp_path / "run0").exists()


def test_torchrun_two_processes_on_cpu(tmp_path):
    """DistributedDataParallel through torchrun (gloo on CPU): both ranks train, rank 0 saves."""
    import subprocess
    import sys

    image, _, _ = make_phantom(shape=(24, 64, 64), seed=3)
    sitk.WriteImage(sitk.GetImageFromArray(image), str(tmp_path / "vol.nii.gz"))
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "sli2vol.cli",
           "train", str(tmp_path / "vol.nii.gz"), "--run-dir", str(run), "--steps", "3", "--batch-size", "1",
           "--crop", "32", "--quiet", "--threads", "1"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert load_checkpoint_encoder(run)[2] == 3
    assert load_model(run / "model.pt").sli2vol_meta["info"]["volumes"] == ["vol.nii.gz"]
