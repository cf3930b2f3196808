"""Fixed, recorded splits of the real data sets, so every run and every reported number uses the same scenes.

`dpdd_dev` (49 real aperture-defocus pairs): the validation part is 10 images from 7 locations. Images whose
capture numbers lie within 12 of each other were shot at the same place minutes apart (the same fence, park or
corridor), so they count as one location and go to the same side. Locations were ordered by
sha256("dpdd_dev:<first image>") and taken from the front until 10 images were reached. The other 39 images are for
training; there is no test part here (held-out real pairs live outside this project).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

DPDD_DEV_VAL = ("1P0A0994", "1P0A1002", "1P0A1488", "1P0A1696", "1P0A1717", "1P0A1723", "1P0A1910", "1P0A1924",
                "1P0A1932", "1P0A2417")
RECORDED = {"dpdd_dev": DPDD_DEV_VAL}


def recorded_split(root: Path | None, pairs: Sequence) -> dict[str, list] | None:
    """The recorded train/val split of a known real data folder (matched by folder name), else None.

    Args:
        root: the data folder a scan came from.
        pairs: its `Pair`s (file stems identify images).

    Returns:
        {"train": [...], "val": [...], "test": []} or None for folders without a recorded split.
    """
    if root is None or Path(root).name not in RECORDED:
        return None
    val = set(RECORDED[Path(root).name])
    return {"train": [p for p in pairs if p.sharp.stem not in val],
            "val": [p for p in pairs if p.sharp.stem in val], "test": []}
