import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import vae as vae_config
from vae_jax import models
from vae_jax.errors import ConfigError
from vae_jax.models import conv_by_matmul


def count(params) -> int:
    return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))


def init(config, image_shape=(28, 28, 1)):
    model = models.build(config, image_shape)
    x = jnp.zeros((2, *image_shape))
    params = model.init(jax.random.key(0), x, jax.random.key(1))["params"]
    return model, params


def test_flax_example_vae_has_the_exact_parameter_count():
    model, params = init(vae_config.get_config())
    encoder = 784 * 500 + 500 + 2 * (500 * 20 + 20)
    decoder = 20 * 500 + 500 + 500 * 784 + 784
    assert count(params) == encoder + decoder == 815_824
    assert set(params) == {"encoder", "decoder", "mean", "logvar"}


def test_ae_has_one_code_head():
    config = vae_config.get_config()
    config.model = "ae"
    _, params = init(config)
    assert count(params) == 784 * 500 + 500 + 500 * 20 + 20 + 20 * 500 + 500 + 500 * 784 + 784


@pytest.mark.parametrize("name", models.MODELS)
def test_every_family_encodes_to_one_convention_read_by_one_function(name):
    """models.Encoding for every family, and models.codes (what the evaluators, the figures
    and vae_jax.load_run read) is its `mean`: the code the model's own forward pass
    uses, bit for bit -- a deterministic encoder's `z` (no logvar), or q(z|x)'s moments."""
    config = vae_config.get_config()
    config.model, config.hidden, config.latents = name, (16,), 3
    config.vamp_components, config.top_hidden, config.top_latents = 4, (8,), 2
    model, params = init(config)
    x = jax.random.uniform(jax.random.key(2), (5, 28, 28, 1))
    encoding = model.apply({"params": params}, x, method="encode")
    assert type(encoding) is models.Encoding
    codes = models.codes(model, params, x)
    np.testing.assert_array_equal(codes, encoding.mean)
    if name in ("ae", "vq_vae"):
        assert encoding.logvar is None
        forward = model.apply({"params": params}, x)
        np.testing.assert_array_equal(codes, forward["z"])  # what the decoder reads
    else:
        # The Gaussian posterior's moments as the forward pass computes them; the Ladder's
        # q(z1 | z2, x) at z2's mean: its proposal with no noise on z2.
        noise = (jnp.zeros((5, 3)), jnp.zeros((5, 2)))
        forward = (model.apply({"params": params}, x, *noise, method="proposal")
                   if name in ("two_layer_vae", "ladder_vae")
                   else model.apply({"params": params}, x, jax.random.key(3)))
        np.testing.assert_array_equal(codes, forward["mean"])
        np.testing.assert_array_equal(encoding.logvar, forward["logvar"])
    assert model.apply({"params": params}, codes, method="decode").shape == (5, 28, 28, 1)


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (64, 64, 1), (32, 32, 3)])
def test_conv_vae_maps_images_back_to_their_shape(image_shape):
    config = vae_config.get_config()
    config.architecture = "conv"
    model, params = init(config, image_shape)
    x = jnp.ones((3, *image_shape)) * 0.5
    out = model.apply({"params": params}, x, jax.random.key(2))
    assert out["logits"].shape == (3, *image_shape)
    assert out["mean"].shape == out["logvar"].shape == out["z"].shape == (3, 20)
    encoder = params["encoder"]
    widths = [encoder[f"Conv_{i}"]["kernel"].shape[-1] for i in range(3)]
    assert widths == [32, 64, 128]  # the Keras-tutorial encoder


def test_conv_parameter_count_on_mnist():
    config = vae_config.get_config()
    config.architecture = "conv"
    _, params = init(config)
    enc = (9 * 1 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 128 + 128)
    heads = 2 * (4 * 4 * 128 * 20 + 20)
    dec = (20 * 4 * 4 * 128 + 4 * 4 * 128) + (9 * 128 * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 + 1)
    assert count(params) == enc + heads + dec


@pytest.mark.parametrize("reference,ours,height,width,channels", [
    (nn.ConvTranspose, models.UpConv, 4, 4, 6), (nn.ConvTranspose, models.UpConv, 7, 5, 6),
    (nn.Conv, models.DownConv, 28, 28, 4), (nn.Conv, models.DownConv, 7, 7, 4),
    (nn.Conv, models.DownConv, 6, 5, 4)])
def test_matmul_convs_equal_flax_in_values_init_and_gradients(reference, ours, height, width,
                                                               channels):
    x = jax.random.normal(jax.random.key(0), (3, height, width, channels))
    reference, ours = reference(5, (3, 3), strides=(2, 2)), ours(5, impl="matmul")
    params = reference.init(jax.random.key(1), x)
    ours_params = ours.init(jax.random.key(1), x)
    chex.assert_trees_all_equal(params, ours_params)  # same names, shapes and initial values
    chex.assert_trees_all_close(ours.apply(params, x), reference.apply(params, x), atol=1e-5)

    def grads(module):
        return jax.grad(lambda p, v: jnp.sum(jnp.sin(module.apply(p, v))), argnums=(0, 1))(
            params, x)

    chex.assert_trees_all_close(grads(ours), grads(reference), atol=1e-4)


@pytest.mark.parametrize("conv", [conv_by_matmul.downsample, conv_by_matmul.upsample],
                         ids=["downsample", "upsample"])
@pytest.mark.parametrize("shape", [(3, 7, 7, 4), (3, 6, 5, 4), (2, 28, 28, 1), (2, 3, 7, 5, 6)])
def test_hand_written_conv_gradients_are_autodiffs_bit_for_bit(conv, shape):
    # conv.fun is the forward pass without the custom backward: autodiff's gradients of it.
    x = jax.random.normal(jax.random.key(0), shape)
    kernel = jax.random.normal(jax.random.key(1), (3, 3, shape[-1], 5))

    def loss(fn, x, k):
        y = fn(x, k)
        # Position-dependent weights, so every output pixel's cotangent differs.
        return jnp.sum(jnp.sin(y) * jnp.cos(jnp.arange(y.size)).reshape(y.shape))

    def grads(fn):
        return jax.jit(jax.grad(functools.partial(loss, fn), argnums=(0, 1)))(x, kernel)

    def stacked_grads(fn):  # under vmap, as populations map members
        grad = jax.grad(functools.partial(loss, fn), argnums=(0, 1))
        return jax.jit(jax.vmap(grad))(jnp.stack([x, 2 * x]), jnp.stack([kernel, -kernel]))

    chex.assert_trees_all_equal(grads(conv), grads(conv.fun))
    chex.assert_trees_all_equal(stacked_grads(conv), stacked_grads(conv.fun))


@pytest.mark.parametrize("conv", [conv_by_matmul.downsample, conv_by_matmul.upsample],
                         ids=["downsample", "upsample"])
def test_hand_written_conv_gradients_differentiate_again_like_autodiff(conv):
    # The contractive AE differentiates a vjp of the encoder: reverse over reverse goes
    # through the hand-written backward pass. Second derivatives agree to float32 round-off,
    # not bit for bit (the two differentiate different expressions): within 1e-6 of the
    # largest entry of each gradient (measured: <= 2e-7 of entries up to ~500).
    x = jax.random.normal(jax.random.key(0), (2, 7, 6, 3))
    kernel = jax.random.normal(jax.random.key(1), (3, 3, 3, 4))

    def penalty(fn, x, k):
        y, vjp = jax.vjp(lambda x: jnp.sin(fn(x, k)), x)
        return jnp.sum(vjp(jnp.cos(y))[0] ** 2)

    def grads(fn):
        return jax.jit(jax.grad(functools.partial(penalty, fn), argnums=(0, 1)))(x, kernel)

    for ours, autodiff in zip(grads(conv), grads(conv.fun), strict=True):
        np.testing.assert_allclose(ours, autodiff, rtol=0,
                                   atol=1e-6 * float(jnp.abs(autodiff).max()))


def test_learned_pixel_variance_is_a_parameter():
    config = vae_config.get_config()
    config.likelihood = "gaussian_learned"
    model, params = init(config)
    assert params["x_logvar"].shape == (28, 28, 1)
    out = model.apply({"params": params}, jnp.zeros((2, 28, 28, 1)), jax.random.key(3))
    assert out["x_logvar"].shape == (28, 28, 1)


def test_reparameterize_has_the_posterior_moments():
    mean, logvar = jnp.array([1.0, -2.0]), jnp.log(jnp.array([0.25, 4.0]))
    keys = jax.random.split(jax.random.key(0), 20000)
    z = jax.vmap(lambda k: models.reparameterize(k, mean, logvar))(keys)
    np.testing.assert_allclose(z.mean(0), mean, atol=0.05)
    np.testing.assert_allclose(z.var(0), jnp.exp(logvar), rtol=0.05)


def test_images_of_the_wrong_shape_get_a_clear_error():
    model, params = init(vae_config.get_config())
    with pytest.raises(ConfigError, match=r"\(64, 64, 1\).*built for \(28, 28, 1\)"):
        model.apply({"params": params}, jnp.zeros((1, 64, 64, 1)), jax.random.key(0))


def test_too_small_images_for_the_conv_stack():
    config = vae_config.get_config()
    config.architecture = "conv"
    with pytest.raises(ConfigError, match="too small"):
        models.build(config, (4, 4, 1))
