"""The first-use check of the CPU matmul convolutions, and the fallback when it fails."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae_jax.models import autoencoders, conv_by_matmul


def test_matmul_convolutions_pass_their_check():
    conv_by_matmul.verified.cache_clear()
    assert conv_by_matmul._disagreement("downsample") < 1e-5
    assert conv_by_matmul._disagreement("upsample") < 1e-5
    assert conv_by_matmul.verified()


def test_a_wrong_matmul_form_falls_back_to_xla_with_a_warning(monkeypatch):
    conv_by_matmul.verified.cache_clear()
    shifted = lambda x, kernel: conv_by_matmul._reference("downsample")(x, kernel) + 1e-2  # noqa: E731
    monkeypatch.setattr(conv_by_matmul, "downsample", shifted)
    try:
        with pytest.warns(RuntimeWarning, match="using XLA's convolutions instead"):
            layer = autoencoders.DownConv(features=4)
            x = jnp.linspace(0.0, 1.0, 2 * 6 * 6 * 3).reshape(2, 6, 6, 3)
            params = layer.init(jax.random.key(0), x)
            # jit: the check runs eagerly while the layer is traced.
            out = jax.jit(layer.apply)(params, x)
        expected = jax.lax.conv_general_dilated(
            x, params["params"]["kernel"], (2, 2), "SAME",
            dimension_numbers=("NHWC", "HWIO", "NHWC"))
        np.testing.assert_array_equal(out, expected)
    finally:
        conv_by_matmul.verified.cache_clear()
