"""The DCT features against the properties that define them (Frank et al. 2020)."""

from __future__ import annotations

import numpy as np
import pytest

from fakescope.features.dct import dct2, dct_spectrum, log_dct, pool_spectrum, radial_profile
from tests.conftest import natural_image, upsampled_image


def test_constant_image_has_only_a_dc_coefficient():
    c = dct2(np.full((16, 16), 7.0))
    assert c[0, 0] == pytest.approx(7.0 * 16)  # orthonormal: DC = mean * N
    c[0, 0] = 0
    assert np.abs(c).max() < 1e-9


def test_cosine_pattern_is_a_single_peak():
    n, k = 32, 5
    x = np.arange(n)
    pattern = np.cos(np.pi * k * (2 * x + 1) / (2 * n))  # the k-th DCT-II basis function
    c = dct2(np.tile(pattern, (n, 1)))
    peak = np.unravel_index(np.argmax(np.abs(c)), c.shape)
    assert peak == (0, k)
    assert np.abs(c).sum() == pytest.approx(np.abs(c[0, k]), rel=1e-9)


def test_orthonormal_transform_preserves_energy():
    x = np.random.default_rng(0).normal(size=(24, 24))
    assert np.sum(dct2(x) ** 2) == pytest.approx(np.sum(x**2))


def test_log_scaling():
    x = np.random.default_rng(1).normal(size=(8, 8))
    assert np.allclose(np.exp(log_dct(x)), np.abs(dct2(x)) + 1e-6)


def test_checkerboard_artefact_is_a_peak_at_its_frequency():
    """A period-4 checkerboard (the trace a stride-2 transposed convolution leaves) is a
    peak at DCT index N/2 on both axes, which a natural 1/f image does not have."""
    rng = np.random.default_rng(0)
    real = np.mean([dct_spectrum(natural_image(rng)) for _ in range(4)], axis=0)
    fake = np.mean([dct_spectrum(upsampled_image(rng)) for _ in range(4)], axis=0)
    assert real.shape == (128, 128)
    assert fake[63:66, 63:66].max() > real[63:66, 63:66].max() + 2.0
    # pixel repetition (nearest up-sampling) suppresses the top frequencies instead
    assert fake[-8:, -8:].mean() < real[-8:, -8:].mean()


def test_pool_and_radial_profile():
    spec = np.arange(16.0).reshape(4, 4)
    assert np.allclose(pool_spectrum(spec, 2), [2.5, 4.5, 10.5, 12.5])
    flat = radial_profile(np.ones((32, 32)), bins=8)
    assert np.allclose(flat[flat > 0], 1.0)
