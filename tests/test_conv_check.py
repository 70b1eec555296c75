"""The matmul convolutions against XLA's (what conv_impl=matmul relies on), and conv_impl."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import vae as vae_config
from vae_jax import checkpoints, models, run
from vae_jax.models import autoencoders, conv_by_matmul

_NHWC = ("NHWC", "HWIO", "NHWC")
_TOLERANCE = 1e-4  # relative to the largest value; float32 sums in another order agree to ~1e-6


def _reference(kind: str):
    if kind == "downsample":
        return lambda x, k: jax.lax.conv_general_dilated(x, k, (2, 2), "SAME",
                                                         dimension_numbers=_NHWC)
    return lambda x, k: jax.lax.conv_transpose(x, k, (2, 2), "SAME", dimension_numbers=_NHWC)


def _disagreement(kind: str) -> float:
    """Largest relative difference between the matmul form and XLA's op, values and both
    gradients, on a small odd-sized input (the shapes where 'SAME' padding is uneven)."""
    x = jnp.linspace(-1.0, 1.0, 2 * 7 * 5 * 3, dtype=jnp.float32).reshape(2, 7, 5, 3)
    kernel = jnp.cos(jnp.arange(3 * 3 * 3 * 4, dtype=jnp.float32)).reshape(3, 3, 3, 4)
    ours = conv_by_matmul.downsample if kind == "downsample" else conv_by_matmul.upsample
    out, ours_vjp = jax.vjp(ours, x, kernel)
    expected, reference_vjp = jax.vjp(_reference(kind), x, kernel)
    assert out.shape == expected.shape
    cotangent = jnp.sin(jnp.arange(out.size, dtype=jnp.float32)).reshape(out.shape)
    pairs = [(out, expected), *zip(ours_vjp(cotangent), reference_vjp(cotangent), strict=True)]
    return max(float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b))) for a, b in pairs)


@pytest.mark.parametrize("kind", ["downsample", "upsample"])
def test_matmul_convolutions_equal_xla_in_values_and_both_gradients(kind):
    assert _disagreement(kind) <= _TOLERANCE


@pytest.mark.parametrize("impl,uses_conv", [("xla", True), ("matmul", False)])
def test_conv_impl_picks_the_layer_computation(impl, uses_conv):
    layer = autoencoders.DownConv(features=4, impl=impl)
    x = jnp.linspace(0.0, 1.0, 2 * 6 * 6 * 3).reshape(2, 6, 6, 3)
    params = layer.init(jax.random.key(0), x)
    hlo = jax.jit(layer.apply).lower(params, x).as_text()
    assert ("convolution" in hlo) == uses_conv
    expected = _reference("downsample")(x, params["params"]["kernel"]) + params["params"]["bias"]
    np.testing.assert_allclose(layer.apply(params, x), expected, atol=1e-5)


def test_conv_impl_auto_is_matmul_on_cpu_and_xla_elsewhere():
    expected = "matmul" if jax.default_backend() == "cpu" else "xla"
    assert autoencoders.resolve_conv_impl("auto") == expected
    assert autoencoders.resolve_conv_impl("xla") == "xla"
    assert autoencoders.resolve_conv_impl("matmul") == "matmul"


def test_conv_impl_reaches_the_3x3_layers_and_not_the_others():
    config = vae_config.get_config()
    config.architecture, config.conv_channels = "conv", (4, 4)
    config.conv_kernels, config.conv_impl = (3, 4), "matmul"
    model = models.build(config, (8, 8, 1))
    x = jnp.zeros((2, 8, 8, 1))
    params = model.init(jax.random.key(0), x, jax.random.key(1))
    hlo = jax.jit(model.apply).lower(params, x, jax.random.key(1)).as_text()
    # The 4x4 encoder layer is XLA's convolution; the decoder's 3x3 layers are matmuls.
    assert hlo.count("stablehlo.convolution") == 1


def test_the_run_records_conv_impl_resolved_and_leaves_the_callers_config_alone(tmp_path):
    config = vae_config.get_config()
    resolved = run.resolve(config)
    assert config.conv_impl == "auto"
    assert resolved.conv_impl == autoencoders.resolve_conv_impl("auto")
    checkpoints.check_or_write_config(str(tmp_path), resolved)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["conv_impl"] == resolved.conv_impl
    # A workdir made before the field existed (no conv_impl in config.json) still resumes.
    del saved["conv_impl"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    checkpoints.check_or_write_config(str(tmp_path), resolved)
