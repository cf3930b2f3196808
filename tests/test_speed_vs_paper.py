"""benchmarks/speed_vs_paper.py: the release int8 file, paper's and candidate architectures' in one timing loop."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import speed_vs_paper  # noqa: E402


def test_candidates_are_timed_in_the_same_loop_and_reported(tmp_path):
    pytest.importorskip("tensorflow")
    out = tmp_path / "speed.json"
    assert speed_vs_paper.main(["--sizes", "32", "--rounds", "3", "--warmup", "1", "--threads", "1",
                                "--candidate", "tiny", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    (row,) = result["rows"]
    assert row["size"] == 32 and set(row["median_ms"]) == {"unet_s3", "paper", "tiny"}
    tiny = row["candidates"]["tiny"]
    assert tiny["speedup"] == pytest.approx(row["median_ms"]["paper"] / row["median_ms"]["tiny"])
    assert 0 < tiny["size_bytes"] < 100_000  # tiny's int8 file: a few thousand weights
    assert row["speedup"] == pytest.approx(row["median_ms"]["paper"] / row["median_ms"]["unet_s3"])
    md = out.with_suffix(".md").read_text()
    assert "| 32x32 | tiny |" in md and f"{tiny['speedup']:.1f}x" in md and "candidates" in result["what"]
