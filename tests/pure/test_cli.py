"""The command line, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from superconverge.cli import main


def test_schedule_command_prints_summary_and_writes_plot(tmp_path, capsys):
    png = tmp_path / "plot.png"
    assert main(["schedule", "--max-lr", "1.0", "--steps", "1000", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "1000 optimizer steps" in out and "step 999: LR 0.001" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_schedule_command_json_round_trips(capsys):
    assert main(["schedule", "--max-lr", "0.4", "--steps", "100", "--preset", "pytorch",
                 "--json"]) == 0
    config = json.loads(capsys.readouterr().out)
    assert config["name"] == "pytorch" and config["total_steps"] == 100


@pytest.mark.parametrize("argv", [["schedule", "--max-lr", "-1", "--steps", "10"],
                                  ["schedule", "--max-lr", "1", "--steps", "2"]])
def test_bad_arguments_exit_2_with_a_message(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "Traceback" not in err


def test_python_dash_m_entry_point():
    result = subprocess.run(
        [sys.executable, "-m", "superconverge", "--version"], capture_output=True, text=True,
        check=True,
    )
    assert result.stdout.startswith("superconverge ")
