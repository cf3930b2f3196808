"""The paper's own protocol: the kwentar defocus pairs squeezed to 224x224, as the paper did, with and without
`edge-deblur data align` first.

The paper resized every blurred and sharp photo to 224x224 (aspect ratio not kept) and scored its network's output
against the resized sharp photo. The kwentar pairs are two separate hand-held shots, so that score mostly measures
how far apart the two shots are, not how sharp the output is: doing nothing scores about as well as the paper's
reported 15.3 dB / 0.39. With `aligned`, each pair is first registered (`edge_deblur.registration.align_images`:
sharp warped onto the blurred frame, exposure matched, both cropped to the common rectangle) and then squeezed.
"""

from __future__ import annotations

import os
from typing import Iterator

from edge_deblur.bench.sets import EvalPair, EvalSet, protocol_root
from edge_deblur.errors import DataError

PAPER_PROTOCOLS = ("paper-kwentar224", "paper-kwentar224-aligned")
PAPER_SIZE = 224
PAPER_REPORTED = {"psnr": 15.3, "ssim": 0.39}  # the paper's test-set numbers, on 22 of its 216 pairs


def squeeze(img, size: int = PAPER_SIZE):
    """`img` resized to size x size whatever its aspect ratio (area averaging when shrinking), as the paper did."""
    from edge_deblur.images import resize

    return resize(img, size, size)


def kwentar224_set(root: str | os.PathLike | None = None, aligned: bool = False, limit: int | None = None) -> EvalSet:
    """Every kwentar defocus pair, squeezed to 224x224 (after registration when `aligned`).

    The pairs are prepared when the set is made (registration takes seconds per photo); a pair that registration
    rejects is left out and named in the description.

    Raises:
        DataError: no kwentar folder, or no pair left.
    """
    from edge_deblur.data import scan_kwentar
    from edge_deblur.images import read_image
    from edge_deblur.registration import AlignmentRejected, align_images

    root = protocol_root(root, PAPER_PROTOCOLS[1] if aligned else PAPER_PROTOCOLS[0], "kwentar")
    pairs = scan_kwentar(root, "defocus").pairs[:limit]
    ready, rejected = [], []
    for p in pairs:
        sharp, blurred = read_image(p.sharp), read_image(p.blurred)
        if aligned:
            try:
                al = align_images(sharp, blurred)
            except AlignmentRejected as e:
                rejected.append(f"{p.sharp.stem} ({e.reason})")
                continue
            sharp, blurred = al.sharp, al.blurred
        ready.append(EvalPair(squeeze(blurred), squeeze(sharp), p.sharp.stem, None))
    if not ready:
        raise DataError(f"{root}: no kwentar defocus pair left for the paper's protocol")

    def make() -> Iterator[EvalPair]:
        yield from ready

    name = PAPER_PROTOCOLS[1] if aligned else PAPER_PROTOCOLS[0]
    how = "registered by `data align`, then squeezed" if aligned else "squeezed as they are (misaligned shots)"
    desc = (f"{name}: the paper's protocol on the {len(ready)} kwentar defocus pairs at {root}, {how} to 224x224 "
            f"(aspect ratio not kept, area averaging); the paper reported {PAPER_REPORTED['psnr']} dB / SSIM "
            f"{PAPER_REPORTED['ssim']} on 22 test pairs of its 216")
    if rejected:
        desc += f"; registration rejected {len(rejected)}: {', '.join(rejected)}"
    return EvalSet(name, desc, len(ready), False, make)
