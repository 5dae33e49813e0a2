import json

import numpy as np
from records_factory import ecg_like, write_record

from leadattn.data import PreprocessConfig, SignalCache, build_cache, prepare, preprocess_record, read_record


def _check_cache(cache, data_dir):
    for i, name in enumerate(cache.names):
        record = read_record(data_dir / name)
        x, mask = preprocess_record(record, cache.config)
        np.testing.assert_array_equal(cache.signal(i), x, err_msg=name)
        np.testing.assert_array_equal(cache.mask(i), mask)
        np.testing.assert_array_equal(cache.labels(i), record.labels)


def test_cache_returns_exactly_what_preprocessing_returns(records_dir, records_manifest, tmp_path):
    cache = build_cache(records_manifest, records_dir, tmp_path / "c", workers=2)
    assert len(cache) == 8 and cache.lengths.tolist() == [5000] * 7 + [19200]  # S0001: 38.4 s at 1000 Hz
    _check_cache(cache, records_dir)
    assert cache.mask(cache.index_of("JS20004")).sum() == 9  # V2, V4 and V6 are flat
    np.testing.assert_array_equal(cache.signal(3, 100, 400), cache.signal(3)[:, 100:400])


def test_cache_of_the_shared_folders(shared_records_dir, sample_manifest, tmp_path):
    cache = build_cache(sample_manifest, shared_records_dir, tmp_path / "c", workers=2)
    assert len(cache) == 50
    _check_cache(cache, shared_records_dir)


def test_cache_is_reused_and_rebuilt_when_parameters_change(records_dir, records_manifest, tmp_path):
    first = build_cache(records_manifest, records_dir, tmp_path / "c", workers=1)
    stamp = (tmp_path / "c" / "signals.f32").stat().st_mtime_ns
    build_cache(records_manifest, records_dir, tmp_path / "c", workers=1)
    assert (tmp_path / "c" / "signals.f32").stat().st_mtime_ns == stamp
    other = build_cache(records_manifest, records_dir, tmp_path / "c", PreprocessConfig(fs=250), workers=1)
    assert other.config.fs == 250 and other.signal(0).shape == (12, 2500)
    assert first.signal(0).shape == (12, 5000) and SignalCache(tmp_path / "c").config.fs == 250


def test_cache_skips_records_that_break_after_the_scan(tmp_path):
    data = tmp_path / "data"
    for name in ("A0001", "A0002"):
        write_record(data, name, ecg_like())
    manifest = prepare(data, tmp_path / "m.csv", workers=1).manifest
    (data / "A0002.mat").write_bytes(b"broken")
    cache = build_cache(manifest, data, tmp_path / "c", workers=1)
    assert cache.names == ["A0001"]
    meta = json.loads((tmp_path / "c" / "meta.json").read_text())
    assert meta["skipped_by_kind"] == {"truncated_signal": 1} and meta["skipped"][0]["name"] == "A0002"


def test_cache_skips_a_record_whose_length_changed_since_the_scan(tmp_path):
    data = tmp_path / "data"
    for name in ("A0001", "A0002", "A0003"):
        write_record(data, name, ecg_like())
    manifest = prepare(data, workers=1).manifest
    write_record(data, "A0002", ecg_like(samples=4000))
    cache = build_cache(manifest, data, tmp_path / "c", workers=1)
    assert cache.names == ["A0001", "A0003"]
    np.testing.assert_array_equal(cache.signal(1), preprocess_record(read_record(data / "A0003"))[0])
    assert "re-run prepare" in cache.meta["skipped"][0]["message"]
