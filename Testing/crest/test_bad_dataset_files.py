"""Each broken dataset file gives one DatasetError line naming the file; the dataset is left as it was."""
import pytest
from crest_tools.cli import main
from crest_tools.dataset_format import DatasetError, load_dataset
from dataset_damage import BROKEN_DATASETS, digest


@pytest.mark.parametrize("case", sorted(BROKEN_DATASETS))
def test_broken_dataset_is_one_line_naming_the_file(dataset_folder, case):
    breaker, file_name, words = BROKEN_DATASETS[case]
    breaker(dataset_folder)
    before = digest(dataset_folder)
    with pytest.raises(DatasetError) as raised:
        load_dataset(dataset_folder)
    message = str(raised.value)
    assert words in message and "\n" not in message
    assert str(dataset_folder / file_name) in message
    assert digest(dataset_folder) == before


CREST_EXIT_ERROR = 2  # crest's exit status for an expected failure


@pytest.mark.parametrize("case", sorted(BROKEN_DATASETS))
def test_crest_train_on_broken_dataset(dataset_folder, tmp_path, capsys, case):
    """The same cases through ``crest train``: one line, dataset unchanged, no run folder made."""
    breaker, file_name, words = BROKEN_DATASETS[case]
    breaker(dataset_folder)
    before = digest(dataset_folder)
    status = main(["train", str(dataset_folder), "-o", str(tmp_path / "run"), "--threads", "1"])
    err = capsys.readouterr().err.strip()
    assert status == CREST_EXIT_ERROR
    assert err.startswith("crest train: error: ") and len(err.splitlines()) == 1 and words in err
    assert str(dataset_folder / file_name) in err
    assert digest(dataset_folder) == before and not (tmp_path / "run").exists()
