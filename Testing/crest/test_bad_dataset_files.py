"""Each broken dataset file gives one DatasetError line naming the file; the dataset is left as it was."""
import numpy as np
import pytest
from cli_harness import assert_refused, snapshot
from crest_synthetic import train_options
from crest_tools.cli import main
from crest_tools.dataset_format import DatasetError, load_dataset
from dataset_damage import BROKEN_DATASETS
from sli2vol.errors import EXIT_ERROR


@pytest.mark.parametrize("case", sorted(BROKEN_DATASETS))
def test_broken_dataset_is_one_line_naming_the_file(dataset_folder, case):
    breaker, file_name, words = BROKEN_DATASETS[case]
    breaker(dataset_folder)
    before = snapshot(dataset_folder)
    with pytest.raises(DatasetError) as raised:
        load_dataset(dataset_folder)
    message = str(raised.value)
    assert words in message and "\n" not in message
    assert str(dataset_folder / file_name) in message
    assert snapshot(dataset_folder) == before


@pytest.mark.parametrize("case", sorted(BROKEN_DATASETS))
def test_crest_train_on_broken_dataset(dataset_folder, tmp_path, case):
    """The same cases through ``crest train``: one line, dataset unchanged, no run folder made."""
    breaker, file_name, words = BROKEN_DATASETS[case]
    breaker(dataset_folder)
    outcome = assert_refused(main, ["train", dataset_folder, "-o", tmp_path / "run", "--threads", "1"],
                             [dataset_folder, tmp_path], EXIT_ERROR, words, "crest train: error: ")
    assert str(dataset_folder / file_name) in outcome.error_lines[0]


def test_crest_predict_on_broken_arrays(dataset_folder, tmp_path, capsys):
    """``crest predict`` reads its arrays file with the same checks; nothing is written on failure."""
    run = tmp_path / "run"
    assert main(["train", str(dataset_folder), "-o", str(run), *train_options(1, 20)]) == 0
    capsys.readouterr()
    cases = {
        "cut.npz": (lambda p: p.write_bytes((dataset_folder / "arrays.npz").read_bytes()[:500]), "not an npz archive"),
        "empty.npz": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
        "absent.npz": (lambda p: None, "arrays file not found"),
        "no_images.npz": (lambda p: np.savez(p, pictures=np.zeros((2, 1, 12, 12), np.uint8)),
                          "lacks the array 'images'"),
    }
    for name, (make, words) in cases.items():
        make(tmp_path / name)
        outcome = assert_refused(main, ["predict", run, tmp_path / name, "-o", tmp_path / "p.csv"], [tmp_path],
                                 EXIT_ERROR, words, "crest predict: error: ")
        assert str(tmp_path / name) in outcome.error_lines[0]
