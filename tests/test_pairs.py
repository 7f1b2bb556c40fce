"""Linked pairs: a real image and its aligned counterpart, kept together in training (same augmentation
draw, same fold, same batch)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from fakescope.data.manifest import Manifest, Sample, file_sha256
from fakescope.data.perturb import apply_augment, augment, blur, draw_augment, jpeg, rescale
from fakescope.extraction.batch import apply_view, extract, view_rng, view_seeds
from fakescope.train.recipe import paired_batches, paired_mask, source_groups
from tests.conftest import natural_image, upsampled_image


def _old_augment(img, rng, min_side=128):
    """The augmentation as it was before it was split into a draw and its application (cached features of
    the aug views were made with it, so the split must not change a pixel)."""
    w, h = img.size
    if rng.random() < 0.5 and min(w, h) > min_side:
        side = int(rng.integers(max(min_side, int(0.6 * min(w, h))), min(w, h) + 1))
        x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
        img = img.crop((x, y, x + side, y + side))
    if rng.random() < 0.5:
        lo = min(1.0, max(0.5, min_side / min(img.size)))
        img = rescale(img, float(rng.uniform(lo, 1.0)) if lo < 1.0 else 1.0)
    if rng.random() < 0.3:
        img = blur(img, float(rng.uniform(0.2, 1.5)))
    if rng.random() < 0.7:
        img = jpeg(img, int(rng.integers(60, 96)))
    return img


@pytest.mark.parametrize("size", [(160, 160), (300, 200), (120, 140)])
def test_augment_is_its_draw_applied_and_unchanged(size):
    img = natural_image(np.random.default_rng(0), 300).crop((0, 0, *size))
    for seed in range(12):
        new = augment(img, np.random.default_rng(seed))
        old = _old_augment(img, np.random.default_rng(seed))
        assert new.size == old.size and np.array_equal(np.asarray(new), np.asarray(old))


def pair_dataset(root, n=6, link=True):
    """Real images and counterparts with the very same pixels (stored with another PNG compression, so
    each file has its own sha256): with the same augmentation draw, their augmented views are equal."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    samples = []
    for i in range(n):
        img = natural_image(rng, 200).crop((0, 0, 200, 176))
        img.save(root / f"r{i}.png", compress_level=1)
        img.save(root / f"c{i}.png", compress_level=9)
        real_hash = file_sha256(root / f"r{i}.png")
        samples += [Sample(path=f"r{i}.png", label="real", source="cam", sha256=real_hash),
                    Sample(path=f"c{i}.png", label="fake", source="fakescope-synth", generator="fakescope-aligned-x",
                           sha256=file_sha256(root / f"c{i}.png"), pair=real_hash if link else "")]  # fmt: skip
    return Manifest(samples, root=root)


def test_pair_column_round_trips_and_old_manifests_still_load(tmp_path):
    m = pair_dataset(tmp_path / "d")
    for suffix in ("csv", "jsonl"):
        again = Manifest.read(m.write(tmp_path / f"m.{suffix}"))
        assert [s.pair for s in again] == [s.pair for s in m]
    with open(tmp_path / "m.csv", newline="") as fh:
        assert csv.DictReader(fh).fieldnames[-1] == "pair"
    plain = Manifest([s for s in m if not s.pair], root=m.root).write(tmp_path / "plain.csv")
    with open(plain, newline="") as fh:
        assert "pair" not in csv.DictReader(fh).fieldnames  # written only when used
    assert all(s.pair == "" for s in Manifest.read(plain))


def test_a_counterpart_is_linked_to_its_real_image_even_without_a_sha256_column(tmp_path):
    m = pair_dataset(tmp_path / "d", n=2)
    keys = m.pair_keys()
    assert keys[1] == keys[0] == m[0].key and keys[3] == keys[2] != keys[0]
    for s in m:
        if not s.pair:
            s.sha256 = ""  # reals listed without their hash: their files are hashed to find them
    keys = m.pair_keys()
    assert keys[1] == m[0].key == str(m[0].file) and keys[3] == str(m[2].file)


def test_a_counterpart_gets_its_real_image_augmentation_draw(tmp_path):
    m = pair_dataset(tmp_path / "d")
    seeds = view_seeds(m, "aug0")
    differs = 0
    for i in range(0, len(m), 2):
        real, fake = m[i], m[i + 1]
        assert seeds[i + 1] == seeds[i] == real.key
        img = Image.open(fake.file).convert("RGB")
        for view in ("aug0", "aug1", "aug2"):
            draw = draw_augment(img.size, view_rng(view, real.key))  # the real image's crop box, JPEG quality ...
            out = apply_view(img, view, seeds[i + 1])
            assert np.array_equal(np.asarray(out), np.asarray(apply_augment(img, draw)))
            differs += draw != draw_augment(img.size, view_rng(view, fake.key))  # its own draw would differ
    assert differs >= 6
    linked, _ = extract(m, ["crop128"], view="aug1")
    assert all(np.array_equal(linked["crop128"][i], linked["crop128"][i + 1]) for i in range(0, len(m), 2))
    unlinked, _ = extract(pair_dataset(tmp_path / "u", link=False), ["crop128"], view="aug1")
    assert not all(np.array_equal(unlinked["crop128"][i], unlinked["crop128"][i + 1]) for i in range(0, len(m), 2))


def test_linked_pairs_are_paired_data_and_counted_under_their_real_source(tmp_path):
    m = pair_dataset(tmp_path / "d", n=3)
    lone = Sample(path="r0.png", label="fake", source="elsewhere", sha256="x")
    both = Manifest([*m, lone], root=m.root)
    assert paired_mask(both).tolist() == [True] * 6 + [False]  # neither source holds both classes
    assert source_groups(both) == ["cam"] * 6 + ["elsewhere"]
    unlinked = pair_dataset(tmp_path / "u", n=3, link=False)
    assert not paired_mask(unlinked).any()


def test_paired_batches_keep_every_pair_whole():
    units = np.repeat(np.arange(40), [1, 2, 3] * 13 + [2])  # singletons, pairs and a real with two counterparts
    rng = np.random.default_rng(0)
    for _ in range(3):
        batches = list(paired_batches(units, 8, rng))
        rows = np.concatenate(batches)
        assert sorted(rows) == list(range(len(units)))
        for b in batches:
            assert len(b) <= 8
            for u in set(units[b]):
                assert set(np.flatnonzero(units == u)) <= set(b)  # both members in this batch


def test_a_pair_gets_one_flip_and_one_batch_augmentation_draw():
    from fakescope.detectors.cnnf import blur_jpeg
    from fakescope.detectors.network import same_draw_per_unit

    crop = np.asarray(natural_image(np.random.default_rng(2), 64))
    xb = np.stack([crop] * 8)
    units = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    rng = np.random.default_rng(5)
    out, y, flip = same_draw_per_unit(xb, np.zeros(8), units, blur_jpeg, rng)
    for i in range(0, 8, 2):
        assert np.array_equal(out[i], out[i + 1]) and flip[i] == flip[i + 1]
    assert len({out[i].tobytes() for i in range(0, 8, 2)}) > 1  # the draw differs between pairs


def test_a_network_trains_with_both_members_of_each_pair_in_one_batch(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import fakescope.detectors.network as network
    from fakescope.registry import create

    root = tmp_path / "d"
    root.mkdir()
    rng = np.random.default_rng(3)
    samples = []
    for i in range(8):
        natural_image(rng, 160).save(root / f"r{i}.png")
        upsampled_image(rng, 160).save(root / f"c{i}.png")
        real_hash = file_sha256(root / f"r{i}.png")
        samples += [Sample(path=f"r{i}.png", label="real", source="cam", sha256=real_hash),
                    Sample(path=f"c{i}.png", label="fake", source="fakescope-synth", pair=real_hash,
                           sha256=file_sha256(root / f"c{i}.png"))]  # fmt: skip
    m = Manifest(samples, root=root)
    seen = []
    real_batches = network.paired_batches

    def spy(units, batch, rng):
        for b in real_batches(units, batch, rng):
            seen.append(units[b])
            yield b

    monkeypatch.setattr(network, "paired_batches", spy)
    det = create("meso4", head_params={"epochs": 1, "batch": 6, "pretrained": False}, n_aug=1, calib_folds=2)
    det.fit(m)
    assert seen
    for units in seen:
        counts = {u: list(units).count(u) for u in units}
        assert set(counts.values()) == {2}  # every unit (a pair under one view) whole: real and counterpart
    assert any(u.startswith("1|") for units in seen for u in units)  # the augmented view's pairs too
