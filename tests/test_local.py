"""Local features on real photos: copies verify with many inliers, different photos do not."""

from __future__ import annotations

import io

import numpy as np
from conftest import EDITS, PHOTO_NAMES, jpeg_bytes
from lookalike.embed.descriptor import LocalFeatures
from lookalike.embed.local import extract_local
from lookalike.score.calibration import calibration_for
from lookalike.score.verify import verify
from PIL import Image, ImageOps

CAL = calibration_for("sscd")


def _decoded(im: Image.Image) -> Image.Image:
    return Image.open(io.BytesIO(jpeg_bytes(im))).convert("RGB")


def test_round_trip_through_bytes(photos: dict[str, Image.Image]) -> None:
    feats = extract_local(photos["astronaut"])
    assert (
        100 < len(feats.desc) <= 1000
        and feats.desc.dtype == np.uint8
        and feats.xy.shape == (len(feats.desc), 2)
    )
    back = LocalFeatures.from_bytes(feats.to_bytes())
    np.testing.assert_array_equal(back.desc, feats.desc)
    np.testing.assert_allclose(back.xy, feats.xy, atol=0.5)  # float16 keeps pixels to 1/4 px at 640
    assert back.shape == feats.shape
    assert verify(back, feats).inliers == verify(feats, feats).inliers


def test_copies_verify_and_unrelated_photos_do_not(photos: dict[str, Image.Image]) -> None:
    refs = {name: extract_local(im) for name, im in photos.items()}
    for edit in ("crop70", "template", "rotate5", "jpeg30"):
        for name in PHOTO_NAMES:
            query = extract_local(_decoded(EDITS[edit](photos[name])))
            own = verify(query, refs[name])
            assert own.inliers >= CAL.inliers_match and own.coverage >= CAL.min_coverage, (edit, name, own)
            others = [verify(query, refs[o]).inliers for o in PHOTO_NAMES if o != name]
            assert max(others) < CAL.inliers_match, (edit, name, others)


def test_mirror_needs_the_mirrored_keypoints(photos: dict[str, Image.Image]) -> None:
    ref = extract_local(photos["coffee"])
    mirrored = _decoded(ImageOps.mirror(photos["coffee"]))
    assert verify(extract_local(mirrored), ref).inliers < CAL.inliers_match
    assert verify(extract_local(ImageOps.mirror(mirrored)), ref).inliers > CAL.inliers_strong


def test_verification_is_deterministic(photos: dict[str, Image.Image]) -> None:
    query = extract_local(_decoded(EDITS["template"](photos["rocket"])))
    ref = extract_local(photos["rocket"])
    assert len({verify(query, ref) for _ in range(5)}) == 1


def test_blank_images_have_nothing_to_verify() -> None:
    blank = extract_local(Image.new("RGB", (300, 200), "white"))
    assert len(blank.desc) == 0
    assert verify(blank, blank).inliers == 0
