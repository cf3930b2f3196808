"""The committed suite's plan: trained `paper` on every protocol, the paper's own protocol, merging kept runs."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import run_suite  # noqa: E402


def test_paper_runs_on_kodak_real_pairs_and_its_own_protocol():
    entries = run_suite.suite()
    paper = {(e.data, e.size): e for e in entries if e.model == "paper"}
    assert set(paper) == {("defocus-kodak24", 224), ("defocus-kodak24", 512), ("real-dpdd-val", 224),
                          ("paper-kwentar224", 224), ("paper-kwentar224-aligned", 224)}
    assert paper[("defocus-kodak24", 224)].limit == 12 and paper[("real-dpdd-val", 224)].limit is None
    ours = {(e.data, e.size) for e in entries if e.model == "unet_s2-paper-recipe"}
    assert {("paper-kwentar224", 224), ("real-dpdd-val", 224), ("real-dpdd-val-2pass", 224),
            ("real-dpdd-val-deblur", 224), ("defocus-kodak24", 224)} <= ours  # paper has no 2-pass run (its single
    # pass takes ~10 min)


def test_weights_are_found_under_benchmarks_weights(tmp_path):
    import stored_weights

    found = run_suite.find_weights("paper", {})
    assert (ROOT / "benchmarks" / "weights" / "paper.npz").is_file() and found == stored_weights.keras_path("paper")
    from edge_deblur.export import load_keras

    model = load_keras(found)  # the float16-stored weights come back as the paper's float32 network
    assert model.name == "paper" and model.count_params() == 1_349_059
    assert all(w.dtype == "float32" for w in model.get_weights())
    assert run_suite.find_weights("paper", {"paper": str(tmp_path / "x.keras")}) == tmp_path / "x.keras"


def _run(entry, date: str) -> dict:
    return {"header": {"date": date}, "rows": []}


def test_keep_others_merges_old_runs_in_suite_order(tmp_path):
    E = run_suite.Entry
    old = [E("defocus-kodak24", "unet_s2", 224, 1, 0, None, "wiener"), E("real-dpdd-val", "paper", 224, 1, 0, None,
                                                                        "wiener")]
    for e in old:
        (tmp_path / f"{e.stem}.json").write_text(json.dumps(_run(e, "2026-11-25")))
    (tmp_path / "summary.json").write_text(json.dumps({
        "runs": [{"entry": asdict(e), "file": f"{e.stem}.json"} for e in old], "head_to_head": {"rounds": 1}}))
    new = (E("real-dpdd-val", "paper", 224, 3, 1, None, "wiener"), _run(None, "2026-11-27"))
    merged, h2h = run_suite._merge_kept(tmp_path, [new])
    assert [(e.data, e.model) for e, _ in merged] == [("defocus-kodak24", "unet_s2"), ("real-dpdd-val", "paper")]
    assert merged[1][1]["header"]["date"] == "2026-11-27"  # the re-run replaces the old run of the same stem
    assert h2h == {"rounds": 1}
    line = run_suite._measured_line(merged, {"date": "2026-11-27"}, 60.0)
    assert "between 2026-11-25 and 2026-11-27" in line
