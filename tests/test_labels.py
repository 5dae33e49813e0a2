import csv

import numpy as np
import pytest
from tests_paths import SHARED_TABLES, require

from leadattn import labels


def test_classes_follow_the_challenge_weights_table():
    with open(require(SHARED_TABLES / "weights.csv"), newline="") as f:
        rows = list(csv.reader(f))
    assert list(labels.CLASS_KEYS) == rows[0][1:]
    np.testing.assert_array_equal(labels.weights(), np.array([[float(v) for v in r[1:]] for r in rows[1:]]))
    assert labels.NUM_CLASSES == len(labels.scored_classes()) == 26


def test_equivalent_codes_share_a_class():
    for a, b in [
        ("733534002", "164909002"),
        ("713427006", "59118001"),
        ("284470004", "63593006"),
        ("427172004", "17338001"),
    ]:
        assert labels.CODE_TO_INDEX[a] == labels.CODE_TO_INDEX[b]
    assert labels.encode(["17338001"]).sum() == 1 and labels.decode(labels.encode(["17338001"])) == ["PVC"]


def test_every_scored_code_of_the_challenge_is_known():
    with open(require(SHARED_TABLES / "dx_mapping_scored.csv"), newline="") as f:
        codes = {r["SNOMEDCTCode"] for r in csv.DictReader(f)}
    assert codes == set(labels.CODE_TO_INDEX)
    assert labels.CODE_TO_INDEX["426783006"] == labels.SINUS_RHYTHM_INDEX


def test_encode_ignores_unscored_codes_and_unscored_table_is_complete():
    assert not labels.encode(["251146004x", "67741000119109"]).any()
    assert labels.unscored_codes()["67741000119109"] == "LAE"


@pytest.mark.parametrize(
    ("name", "index"),
    [("PVC", 18), ("vpb", 18), ("LBBB", 4), ("CLBBB", 4), ("426783006", 14), ("284470004|63593006", 15)],
)
def test_class_index(name, index):
    assert labels.class_index(name) == index


def test_unknown_class_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown class 'XYZ'"):
        labels.class_index("XYZ")
