"""forensic-similarity: trained on unedited images alone, it marks a region pasted from a picture processed
another way, leaves a whole picture even, never reads an edited image in training, and survives a
save/load round trip."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fakescope.data.manifest import Manifest, Sample
from tests.conftest import natural_image

pytest.importorskip("torch")
from sklearn.metrics import roc_auc_score  # noqa: E402

from fakescope.localize.similarity import SimilarityLocalizer  # noqa: E402

SIZE = 128


def _shot(seed: int, camera: str, size: int = SIZE) -> np.ndarray:
    """A photo-like picture through one of two 'cameras': sensor noise left in, or smoothed away."""
    rng = np.random.default_rng(seed)
    a = np.asarray(natural_image(rng, size), dtype=np.float32) * 0.7 + 40
    if camera == "noisy":
        a = a + rng.normal(0, 6, a.shape)
    else:
        a = (a + np.roll(a, 1, 0) + np.roll(a, 1, 1) + np.roll(a, (1, 1), (0, 1))) / 4
    return np.clip(a, 0, 255).astype(np.uint8)


def _unedited(root, n: int = 16) -> Manifest:
    rows = []
    for i in range(n):
        Image.fromarray(_shot(i, ("noisy", "smooth")[i % 2])).save(root / f"u{i}.png")
        rows.append(Sample(path=f"u{i}.png", label="real", source="t"))
    # an edited image whose file does not exist: training must never open it
    rows.append(Sample(path="missing-edit.png", label="partial", mask="missing-mask.png", source="t"))
    return Manifest(rows, root=root)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("unedited")
    loc = SimilarityLocalizer(patch=32, stride=16, width=8, steps=150, batch=32, lr=3e-3, crop=SIZE)
    return loc.fit(_unedited(root))


def _spliced() -> tuple[Image.Image, np.ndarray]:
    host, donor = _shot(100, "noisy", 160), _shot(101, "smooth", 160)
    mask = np.zeros((160, 160), bool)
    mask[48:112, 40:104] = True
    host[mask] = donor[mask]
    return Image.fromarray(host), mask


def test_pasted_region_from_another_camera_stands_out(fitted):
    img, mask = _spliced()
    m = fitted.map(img)
    assert m.shape == mask.shape and 0 <= m.min() and m.max() <= 1
    assert roc_auc_score(mask.ravel(), m.ravel()) > 0.85
    contrast = m[mask].mean() - m[~mask].mean()
    # a whole picture from one camera has no region that stands out as much
    whole = fitted.map(Image.fromarray(_shot(102, "noisy", 160)))
    assert np.quantile(whole, 0.95) - np.quantile(whole, 0.05) < contrast


def test_training_reads_unedited_images_only(fitted):
    assert fitted.trained_on_["labels"] == {"real": 16}
    assert "any edited image" in fitted.card.not_trained_on


def test_threshold_is_fitted_on_held_out_photos(tmp_path):
    """With photos held out, they take no part in training; the map's 0.5 is where the chosen share of their
    area lies on average, and it is saved with the model."""
    from fakescope.saved import load

    loc = SimilarityLocalizer(patch=32, stride=16, width=8, steps=150, batch=32, lr=3e-3, crop=SIZE, held=0.25,
                              authentic_area=0.1).fit(_unedited(tmp_path))  # fmt: skip
    assert loc.trained_on_["labels"] == {"real": 12} and loc.trained_on_["threshold_fitted_on"] == 4
    assert 0 < loc.map_threshold_ < 1 and loc.map_threshold_ != 0.5
    _, held = loc._split(_unedited(tmp_path))
    shares = [float((loc.map(Image.open(s.file)) >= 0.5).mean()) for s in held]
    assert abs(np.mean(shares) - 0.1) < 0.02
    loc.save(tmp_path / "saved")
    again = load(tmp_path / "saved", kind="localizer")
    assert again.map_threshold_ == pytest.approx(loc.map_threshold_)
    assert again.card.calibration["map_threshold"] == pytest.approx(loc.map_threshold_)
    # the region pasted from the other camera is still flagged
    img, mask = _spliced()
    assert (loc.map(img)[mask] >= 0.5).mean() > 0.5


def test_jpeg_copies_join_as_the_same_picture(tmp_path):
    loc = SimilarityLocalizer(patch=32, width=8, steps=2, crop=SIZE, jpeg_copies=True)
    samples, held = loc._split(_unedited(tmp_path))
    images, groups, used = loc._training_pixels(samples, print)
    assert len(images) == 32 and used == {"real": 16} and not held
    assert groups == [i // 2 for i in range(32)]
    # the copy is the same picture re-encoded: not equal to it, far closer to it than to another picture
    a, b, other = (images[i].astype(float).ravel() for i in (0, 1, 2))
    assert np.abs(a - b).mean() > 0 and np.corrcoef(a, b)[0, 1] > 0.7 > 0.2 > abs(np.corrcoef(a, other)[0, 1])


def test_too_small_image_gives_no_evidence(fitted):
    assert not fitted.map(Image.fromarray(_shot(1, "noisy", 40))).any()


def test_save_load_round_trip(fitted, tmp_path):
    from fakescope.saved import load

    fitted.save(tmp_path / "saved")
    again = load(tmp_path / "saved", kind="localizer")
    img, _ = _spliced()
    np.testing.assert_allclose(fitted.map(img), again.map(img), atol=1e-5)
    assert again.localize(img)["p_fake"] is None


def test_train_and_localize_commands(tmp_path):
    """`fakescope train forensic-similarity` saves a model that `fakescope localize -l DIR` uses; `fakescope
    train` also calibrates a classical map (no setup, no network)."""
    import json

    from typer.testing import CliRunner

    from fakescope.cli.main import app

    data = tmp_path / "data"
    data.mkdir()
    manifest = _unedited(data, n=6)
    manifest = Manifest([s for s in manifest if s.label == "real"], root=data)
    manifest.write(data / "manifest.csv")
    runner = CliRunner()
    r = runner.invoke(app, ["train", "forensic-similarity", "-m", str(data / "manifest.csv"),
                            "-o", str(tmp_path / "fs"), "--set", "steps=5", "--set", "width=8", "--set", "patch=32",
                            "--set", "crop=128"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "saved localizer forensic-similarity" in r.output and "trained on 6 images" in r.output
    folder = tmp_path / "in"
    folder.mkdir()
    img, _ = _spliced()
    img.save(folder / "spliced.png")
    r = runner.invoke(app, ["localize", str(folder), "--out", str(tmp_path / "maps"), "-l", str(tmp_path / "fs")])
    assert r.exit_code == 0, r.output
    row = json.loads((tmp_path / "maps" / "localize.jsonl").read_text().splitlines()[0])
    assert row["localizer"] == "forensic-similarity" and row["localizer_p_fake"] is None and not row["error"]

    img.save(data / "edit.png")
    Image.fromarray(_spliced()[1].astype(np.uint8) * 255).save(data / "edit-mask.png")
    both = Manifest([*manifest, Sample(path="edit.png", label="partial", mask="edit-mask.png", source="t")], root=data)
    both.write(data / "both.csv")
    r = runner.invoke(app, ["train", "noise-level", "-m", str(data / "both.csv"), "-o", str(tmp_path / "nl")])
    assert r.exit_code == 0, r.output
    assert "saved localizer noise-level to" in r.output and "trained on 7 images" in r.output
