"""clip-tiles: a probe on CLIP embeddings of tiles learns which regions look made, maps them higher than the
untouched rest, survives a save/load round trip, and cuts tiles at native resolution."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fakescope.data.manifest import Manifest
from fakescope.localize.clip_tiles import TilesLocalizer, tile_starts
from tests.conftest import edit_manifest, natural_image, upsampled_image

pytest.importorskip("sklearn")


def _edited(rng, size=672, side=224):
    """A photo-like image with one ``side`` px square of 'generated' (up-sampled, checkered) content."""
    a = np.asarray(natural_image(rng, size)).copy()
    y, x = (int(v) for v in rng.integers(0, size - side, 2))
    a[y : y + side, x : x + side] = np.asarray(upsampled_image(rng, side))
    mask = np.zeros((size, size), np.uint8)
    mask[y : y + side, x : x + side] = 1
    return Image.fromarray(a), mask


def _dataset(root, n_edit=6, n_real=4, seed=0) -> Manifest:
    return edit_manifest(root, _edited, lambda rng: natural_image(rng, 672), n_edit, n_real, seed, generator="square")


def test_tiles_cover_every_side_and_widen_for_large_images():
    assert tile_starts(448, 224, 112) == [0, 112, 224]
    assert tile_starts(500, 224, 112) == [0, 112, 224, 276]  # the last flush with the edge
    assert tile_starts(100, 224, 112) == [0]
    loc = TilesLocalizer(max_tiles=12)
    t, xs, ys = loc._grid(Image.new("RGB", (2000, 1500)))
    assert t == 224 and len(xs) * len(ys) <= 12 and xs[-1] == 2000 - 224 and ys[-1] == 1500 - 224
    with pytest.raises(ValueError, match="min_cover"):
        TilesLocalizer(min_cover=0)
    with pytest.raises(TypeError):
        TilesLocalizer(width=8)


@pytest.mark.usefixtures("needs_weights")
def test_trained_from_the_command_line_it_maps_a_generated_square_higher_than_the_rest(tmp_path):
    """`fakescope train clip-tiles` saves a head that maps the made square above the photo around it (a
    constant map, or one that flags everything, fails), loads back unchanged and serves `fakescope localize`."""
    import json

    from typer.testing import CliRunner

    from fakescope.cli.main import app
    from fakescope.localize.base import load_localizer

    data = tmp_path / "data"
    data.mkdir()
    _dataset(data).write(data / "manifest.csv")
    runner = CliRunner()
    # 16 tiles: a weak L2 lets the head commit
    r = runner.invoke(app, ["train", "clip-tiles", "-m", str(data / "manifest.csv"), "-o", str(tmp_path / "ct"),
                            "--set", "C=100"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "saved localizer clip-tiles" in r.output and "trained on 10 images" in r.output
    loc = load_localizer(tmp_path / "ct")
    # one tile on each edit, one it leaves untouched where the grid has one, one of each photo
    assert loc.trained_on_["made_tiles"] == 6 and 6 + 4 < loc.trained_on_["tiles"] <= 6 + 6 + 4
    gaps = []
    for seed in (11, 12):
        img, mask = _edited(np.random.default_rng(seed))
        m = loc.map(img)
        assert m.shape == mask.shape and 0 <= m.min() and m.max() <= 1
        gaps.append(m[mask > 0].mean() - m[mask == 0].mean())
    assert np.mean(gaps) > 0.2, gaps
    folder = tmp_path / "in"
    folder.mkdir()
    img.crop((0, 0, 150, 90)).save(folder / "small.png")  # shorter than a tile: squares of its shorter side
    img.save(folder / "edited.png")
    r = runner.invoke(app, ["localize", str(folder), "--out", str(tmp_path / "maps"), "-l", str(tmp_path / "ct")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(line) for line in (tmp_path / "maps" / "localize.jsonl").read_text().splitlines()]
    assert {row["localizer"] for row in rows} == {"clip-tiles"} and not any(row["error"] for row in rows)
    assert all(0 <= row["localizer_p_fake"] <= 1 for row in rows)
