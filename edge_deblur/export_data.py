"""Which data an export calibrates and verifies on: `--data`, the data its model card names, or the shared
training photos; and the held-out images it verifies each file on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_deblur.errors import EdgeDeblurError


def _default_data(data, dataset: str, model_path: Path | None = None) -> tuple[Any, str, str]:
    """(data, dataset, where from): the given ones; else the training data named in the model's card.json when
    it is still there; else the shared training photos; data None when there are none."""
    if data is not None:
        return data, dataset, "from --data"
    card = _card_data(model_path)
    if card is not None:
        return card[0], card[1], f"no --data: the training data named in {model_path.parent / 'card.json'}"
    from edge_deblur.data import default_training_photos

    sets = default_training_photos()
    why = ("no --data" + (" and no usable card.json beside the model" if model_path is not None else "")
           + ": the shared training photos")
    return (sets, "synthetic", why) if sets else (None, dataset, why)


def _card_data(model_path: Path | None) -> tuple[Any, str] | None:
    """(paths, dataset) of the training data a `card.json` beside the model names, if every path still exists."""
    import json

    if model_path is None:
        return None
    try:
        info = json.loads((model_path.parent / "card.json").read_text(encoding="utf-8"))["data"]
        paths, dataset = [Path(p) for p in info["paths"]], str(info["dataset"])
        if dataset == "mixed":
            paths, dataset = _main_source(info["sources"])
    except (OSError, ValueError, KeyError, TypeError, EdgeDeblurError):
        return None
    if not paths or not all(p.exists() for p in paths):
        return None
    return (paths if len(paths) > 1 else paths[0]), dataset


def _main_source(specs: list) -> tuple[list[Path], str]:
    """(paths, dataset) of the weightiest source of a mixed run (the first of equals; a smooth source never: it
    has no blur), from the card's `--source` texts."""
    from edge_deblur.sources import parse_source

    sources = [s for s in (parse_source(str(t)) for t in specs) if s.dataset != "smooth"]
    main = max(sources, key=lambda s: s.weight)  # max keeps the first of equal weights
    return [Path(p) for p in main.paths], main.dataset


def _describe_data(data) -> str:
    """Short human description of a data argument (folder names, not full paths)."""
    items = data if isinstance(data, (list, tuple)) else [data]
    return "+".join(Path(p).name for p in items)


def _held_out_part(data, dataset: str) -> str:
    """'test', or 'val' for data whose recorded split has no test part (e.g. dpdd_dev): both are never trained on."""
    from edge_deblur.data import scan, split_scan

    found = scan(data if dataset == "synthetic" else (data[0] if isinstance(data, (list, tuple)) else data), dataset)
    parts, recorded = split_scan(found)
    return "val" if recorded and not parts["test"] else "test"


def _verification_set(data, dataset: str, n: int, limit: tuple[int, int], stride: int, seed: int
                      ) -> tuple[list, str]:
    """Up to n held-out (blurred, sharp) pairs, centre-cropped to `limit` and to the stride, and the split part
    they came from (see `_held_out_part`)."""
    from edge_deblur.data import eval_pairs

    pairs, part = [], _held_out_part(data, dataset)
    for blurred, sharp, _ in eval_pairs(data, dataset, split=part, seed=seed):
        h = min(blurred.shape[0], limit[0]) // stride * stride
        w = min(blurred.shape[1], limit[1]) // stride * stride
        if h == 0 or w == 0:
            continue
        y0, x0 = (blurred.shape[0] - h) // 2, (blurred.shape[1] - w) // 2
        pairs.append((blurred[y0:y0 + h, x0:x0 + w], sharp[y0:y0 + h, x0:x0 + w]))
        if len(pairs) >= n:
            break
    return pairs, part
