import pytest

from leadattn.leads import LEAD_SUBSETS, LEADS, canonical_lead, lead_mask, resolve_leads


def test_canonical_names():
    assert canonical_lead("AVR") == "aVR" and canonical_lead(" v6 ") == "V6"
    with pytest.raises(KeyError, match="unknown lead name 'V7'"):
        canonical_lead("V7")


def test_resolve_subsets():
    assert resolve_leads(None) == LEADS
    assert resolve_leads(4) == ("I", "II", "III", "V2") == resolve_leads("4")
    assert resolve_leads("V2,ii,I") == LEAD_SUBSETS[3]
    with pytest.raises(ValueError, match="no scored lead subset of size 5"):
        resolve_leads(5)
    assert lead_mask(2).tolist() == [True, True] + [False] * 10
