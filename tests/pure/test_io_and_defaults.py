"""Atomic writes and the run-length defaults."""

from __future__ import annotations

import math
import os

import pytest

from superconverge.io import atomic_write_csv, atomic_write_json, read_csv, read_json
from superconverge.regularization import recommended_bn_momentum


def test_atomic_json_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "a.json"
    atomic_write_json(path, {"x": 1})
    atomic_write_json(path, {"x": [1.5, float("nan")]})
    assert read_json(path)["x"][0] == 1.5 and math.isnan(read_json(path)["x"][1])
    assert os.listdir(path.parent) == ["a.json"]


def test_written_files_get_ordinary_permissions(tmp_path):
    path = atomic_write_json(tmp_path / "p.json", {})
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_failing_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    atomic_write_json(path, {"old": True})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"bad": object()})
    assert read_json(path) == {"old": True}
    assert os.listdir(tmp_path) == ["a.json"]


def test_csv_round_trip_leaves_out_empty_cells(tmp_path):
    path = tmp_path / "h.csv"
    atomic_write_csv(path, [{"epoch": 1, "loss": 0.5}, {"epoch": 2}], ["epoch", "loss"])
    assert read_csv(path) == [{"epoch": 1.0, "loss": 0.5}, {"epoch": 2.0}]


@pytest.mark.parametrize(
    ("steps", "expected"), [(158, 0.9), (1688, 1 - 4 / 168.8), (100_000, 0.999), (1, 0.9)]
)
def test_recommended_bn_momentum_fits_four_time_constants_in_the_tail(steps, expected):
    assert recommended_bn_momentum(steps) == pytest.approx(expected, abs=1e-4)


def test_recommended_bn_momentum_rejects_nonsense():
    with pytest.raises(ValueError, match="total_steps"):
        recommended_bn_momentum(0)
    with pytest.raises(ValueError, match="annihilation_fraction"):
        recommended_bn_momentum(100, annihilation_fraction=0)
