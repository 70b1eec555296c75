"""Encoders, decoders and the two autoencoder modules (deterministic AE, Gaussian VAE).

Every module works on a batch of images `[batch, height, width, channels]` (floats in [0, 1])
and is pure: `model.init(key, x, key)` / `model.apply({'params': params}, x, key)`. The decoder
always returns `logits`; how they are read (Bernoulli logits, or a Gaussian mean through a
sigmoid) is the objective's business, so one decoder serves every likelihood.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.errors import ConfigError
from vae_jax.models import conv_by_matmul

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "tanh": jnp.tanh,
    "elu": nn.elu,
    "gelu": nn.gelu,
}
CODE_ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "linear": lambda z: z,
    "sigmoid": nn.sigmoid,  # codes in (0, 1): what the KL sparsity penalty needs
    "relu": nn.relu,
}
# vamp_vae, vq_vae, two_layer_vae, ladder_vae: models/vamp.py, vq_vae.py, two_layer.py, ladder.py
MODELS = ("ae", "vae", "vamp_vae", "vq_vae", "two_layer_vae", "ladder_vae")
ARCHITECTURES = ("mlp", "conv")
CONV_IMPLS = ("auto", "xla", "matmul")  # config.conv_impl; see resolve_conv_impl
LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned", "discretized_logistic",
               "discretized_logistic_mixture")


def reparameterize(key: jax.Array, mean: jax.Array, logvar: jax.Array) -> jax.Array:
    """Draws z ~ N(mean, exp(logvar)) as a differentiable function of (mean, logvar)."""
    return gaussian_draw(mean, logvar, jax.random.normal(key, mean.shape, mean.dtype))


def gaussian_draw(mean: jax.Array, logvar: jax.Array, eps: jax.Array) -> jax.Array:
    """mean + std * eps: the draw of N(mean, exp(logvar)) for standard-normal noise `eps`."""
    return mean + jnp.exp(0.5 * logvar) * eps


def _flatten_images(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[:-3] + (-1,))


class MLPEncoder(nn.Module):
    """Images -> features through dense layers."""

    hidden: Sequence[int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = _flatten_images(x)
        for width in self.hidden:
            h = ACTIVATIONS[self.activation](nn.Dense(width)(h))
        return h


class MLPDecoder(nn.Module):
    """Latents -> pixel logits through the mirrored dense layers."""

    hidden: Sequence[int]
    image_shape: tuple[int, int, int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        h = z
        for width in reversed(tuple(self.hidden)):
            h = ACTIVATIONS[self.activation](nn.Dense(width)(h))
        logits = nn.Dense(math.prod(self.image_shape), name="output")(h)
        return logits.reshape(z.shape[:-1] + tuple(self.image_shape))


class ConvEncoder(nn.Module):
    """The classic Keras-tutorial encoder: 3x3 convolutions with stride 2 (32-64-128), flattened.

    `kernels` (one per layer; () = all 3) and `dense` (a hidden layer after the convolutions;
    0 = none) give other encoders, e.g. disentanglement_lib's conv_encoder: 32-32-64-64 with
    kernels 4, 4, 2, 2, then 256 units. Kernels other than 3 use XLA's convolution whatever
    `conv_impl` says (the matmul form is written for 3x3)."""

    channels: Sequence[int] = (32, 64, 128)
    activation: str = "relu"
    kernels: Sequence[int] = ()
    dense: int = 0
    conv_impl: str = "xla"  # the 3x3 layers: xla | matmul (resolve_conv_impl)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = x
        act = ACTIVATIONS[self.activation]
        for i, width in enumerate(self.channels):
            # Named like the nn.Conv layers they replace, so checkpoints keep their layout.
            size = self.kernels[i] if self.kernels else 3
            conv = (DownConv(width, impl=self.conv_impl, name=f"Conv_{i}") if size == 3 else
                    nn.Conv(width, (size, size), strides=(2, 2), padding="SAME", name=f"Conv_{i}"))
            h = act(conv(h))
        h = h.reshape(h.shape[:-3] + (-1,))
        return act(nn.Dense(self.dense, name="dense")(h)) if self.dense else h


class _Stride2Conv3x3(nn.Module):
    """A 3x3, stride-2, 'SAME' convolution or transposed convolution with flax's parameter
    names, shapes and init: XLA's own op (`impl="xla"`) or the same values as matmuls
    (`impl="matmul"`, far faster gradients on XLA:CPU). Subclasses set both as static
    functions of (x, kernel), unannotated so that flax does not make them module fields."""

    features: int
    impl: str = "xla"  # xla | matmul; models.build resolves config.conv_impl's "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", nn.initializers.lecun_normal(),
                            (3, 3, x.shape[-1], self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        if self.impl not in ("xla", "matmul"):
            raise ConfigError(f"conv impl must be 'xla' or 'matmul', got {self.impl!r} "
                              "(models.build resolves conv_impl='auto')")
        compute = self.by_matmul if self.impl == "matmul" else self.on_accelerator
        return compute(x, kernel) + bias


_NHWC = ("NHWC", "HWIO", "NHWC")


class DownConv(_Stride2Conv3x3):
    """A 3x3, stride-2, 'SAME' convolution (nn.Conv's parameters, init and values); with
    impl="matmul" one matmul over 3x3 patches (`conv_by_matmul.downsample`).

    Inside a while loop -- the epoch's `lax.scan` -- XLA:CPU leaves the kernel gradient of
    `lax.conv_general_dilated` in a layout its fast convolution path does not take and runs
    a generic loop instead: ~30x slower than this form (docs/performance.md). Accelerators
    keep the convolution (conv_impl=auto).
    """

    on_accelerator = staticmethod(functools.partial(
        jax.lax.conv_general_dilated, window_strides=(2, 2), padding="SAME",
        dimension_numbers=_NHWC))
    by_matmul = staticmethod(conv_by_matmul.downsample)


class UpConv(_Stride2Conv3x3):
    """A 3x3, stride-2, 'SAME' transposed convolution (nn.ConvTranspose's parameters, init and
    values); with impl="matmul" one matmul and interleaving adds (`conv_by_matmul.upsample`).

    XLA:CPU runs the kernel gradient of `lax.conv_transpose` through a slow generic
    convolution: the backward pass ~8x slower than this form's (docs/performance.md).
    Accelerators keep `lax.conv_transpose` (cuDNN; conv_impl=auto).
    """

    on_accelerator = staticmethod(functools.partial(
        jax.lax.conv_transpose, strides=(2, 2), padding="SAME", dimension_numbers=_NHWC))
    by_matmul = staticmethod(conv_by_matmul.upsample)


class ConvDecoder(nn.Module):
    """Mirror of ConvEncoder: dense to a (H/2^L, W/2^L) grid, stride-2 transposed convolutions.

    Each stride-2 'SAME' convolution rounds the size up (28 -> 14 -> 7 -> 4), so the
    transposed stack overshoots (4 -> 8 -> 16 -> 32) and the centre is cropped back to 28.
    """

    image_shape: tuple[int, int, int]
    channels: Sequence[int] = (32, 64, 128)
    activation: str = "relu"
    kernels: Sequence[int] = ()  # decoder order, one per transposed convolution; () = all 3
    dense: int = 0  # a hidden layer before the one that makes the grid; 0 = none
    conv_impl: str = "xla"  # the 3x3 layers: xla | matmul (resolve_conv_impl)

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        height, width, out_channels = self.image_shape
        levels = len(self.channels)
        grid_h, grid_w = -(-height // 2**levels), -(-width // 2**levels)
        act = ACTIVATIONS[self.activation]
        h = act(nn.Dense(self.dense, name="dense")(z)) if self.dense else z
        h = act(nn.Dense(grid_h * grid_w * self.channels[-1], name="Dense_0")(h))
        h = h.reshape(z.shape[:-1] + (grid_h, grid_w, self.channels[-1]))
        widths = tuple(reversed(self.channels))[1:] + (out_channels,)
        for i, w in enumerate(widths):
            size = self.kernels[i] if self.kernels else 3
            h = (UpConv(w, impl=self.conv_impl, name=f"deconv_{i}")(h) if size == 3 else
                 nn.ConvTranspose(w, (size, size), strides=(2, 2), padding="SAME",
                                  name=f"deconv_{i}")(h))
            if i < len(widths) - 1:
                h = act(h)
        top = (h.shape[-3] - height) // 2
        left = (h.shape[-2] - width) // 2
        return h[..., top : top + height, left : left + width, :]


def _check_image_shape(x: jax.Array, image_shape: tuple[int, int, int]) -> None:
    # Shapes are static under jit, so this costs nothing at run time and fails at trace time.
    if tuple(x.shape[-3:]) != tuple(image_shape):
        raise ConfigError(
            f"images have shape {tuple(x.shape[-3:])} (height, width, channels) but the model was "
            f"built for {tuple(image_shape)}. Build the model from the dataset you feed it "
            "(models.build(config, dataset.image_shape)) or resize the images."
        )


class Encoding(NamedTuple):
    """What every model's `encode(x)` returns, so that one function reads every model's codes
    (`codes`).

    `mean` is the code of x that the decoder reads: the Gaussian posterior's mean (VAE and the
    learned-prior families; z1's for the two-layer and Ladder models), an AE's code, a VQ-VAE's
    quantised code (flat, latents x code_dim) -- a deterministic encoder's point mass at its
    code. `logvar` is the diagonal Gaussian posterior's log-variance, and None for the
    deterministic encoders (AE, VQ-VAE). A Gaussian encoding unpacks as `mean, logvar`.
    """

    mean: jax.Array
    logvar: jax.Array | None = None


def codes(model: nn.Module, params, x: jax.Array) -> jax.Array:
    """The codes [B, ...] of images x [B, H, W, C] (floats in [0, 1]) that `model`'s decoder
    reads: its Encoding's `mean` -- a VAE's posterior mean (z1's with two stochastic layers),
    an AE's code, a VQ-VAE's flat quantised code. The one reader of a model's codes: the
    contractive penalty, the evaluators, the figures and vae_jax.load_run's `encode` call it."""
    return model.apply({"params": params}, x, method="encode").mean


class _Autoencoder(nn.Module):
    """Shared parts: encoder body, decoder, optional learned pixel log-variance."""

    encoder: nn.Module
    decoder: nn.Module
    latents: int
    image_shape: tuple[int, int, int]
    learn_pixel_logvar: bool = False

    def setup(self):
        if self.learn_pixel_logvar:
            # One log-variance per pixel, shared by all examples (the decoder's noise level).
            self.x_logvar = self.param("x_logvar", nn.initializers.zeros, self.image_shape)

    def _outputs(self, logits: jax.Array, **extra: jax.Array) -> dict[str, jax.Array]:
        outputs = dict(extra, logits=logits)
        if self.learn_pixel_logvar:
            outputs["x_logvar"] = self.x_logvar
        return outputs

    def decode(self, z: jax.Array) -> jax.Array:
        return self.decoder(z)


class AE(_Autoencoder):
    """Deterministic autoencoder: x -> z -> logits. `key` is accepted and unused, so AE and VAE
    share one call signature and one train step."""

    code_activation: str = "linear"

    def setup(self):
        super().setup()
        self.code = nn.Dense(self.latents, name="code")

    def encode(self, x: jax.Array) -> Encoding:
        """The code [B, latents], deterministic (no logvar)."""
        _check_image_shape(x, self.image_shape)
        return Encoding(CODE_ACTIVATIONS[self.code_activation](self.code(self.encoder(x))))

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> dict[str, jax.Array]:
        z = self.encode(x).mean
        return self._outputs(self.decode(z), z=z)


class VAE(_Autoencoder):
    """Gaussian-posterior VAE: q(z|x) = N(mean, diag(exp(logvar))), prior N(0, I)."""

    def setup(self):
        super().setup()
        self.mean_head = nn.Dense(self.latents, name="mean")
        self.logvar_head = nn.Dense(self.latents, name="logvar")

    def features(self, x: jax.Array) -> jax.Array:
        """The encoder's deterministic features of `x`, before the Gaussian heads."""
        _check_image_shape(x, self.image_shape)
        return self.encoder(x)

    def encode(self, x: jax.Array) -> Encoding:
        """q(z|x): (mean, logvar), each [B, latents]."""
        h = self.features(x)
        return Encoding(self.mean_head(h), self.logvar_head(h))

    def __call__(self, x: jax.Array, key: jax.Array) -> dict[str, jax.Array]:
        mean, logvar = self.encode(x)
        z = reparameterize(key, mean, logvar)
        return self._outputs(self.decode(z), mean=mean, logvar=logvar, z=z)


def resolve_conv_impl(conv_impl: str) -> str:
    """config.conv_impl as the conv layers take it: "auto" is "matmul" when jax's default
    backend is the CPU (XLA:CPU runs its convolutions' gradients slowly inside the epoch's
    loop, docs/performance.md) and "xla" elsewhere; "xla" and "matmul" stay as they are."""
    if conv_impl == "auto":
        return "matmul" if jax.default_backend() == "cpu" else "xla"
    return conv_impl


def build(config, image_shape: tuple[int, int, int],
          output_channels: int | None = None) -> _Autoencoder:
    """The autoencoder that `config` names, for images of `image_shape` (height, width,
    channels). Its decoder returns `output_channels` per pixel (default: the image's
    channels), what the likelihood reads: `objectives.likelihood_channels`."""
    image_shape = tuple(int(s) for s in image_shape)
    output_shape = image_shape[:2] + (int(output_channels or image_shape[2]),)
    if config.architecture == "mlp":
        encoder = MLPEncoder(tuple(config.hidden), config.activation)
        decoder = MLPDecoder(tuple(config.hidden), output_shape, config.activation)
    else:
        min_side = 2 ** len(config.conv_channels)
        if min(image_shape[:2]) < min_side:
            raise ConfigError(
                f"images of {image_shape[0]}x{image_shape[1]} are too small for "
                f"{len(config.conv_channels)} stride-2 convolutions (need >= {min_side}); "
                "use fewer --config.conv_channels or --config.architecture=mlp"
            )
        dense = config.get("conv_dense", 0)
        impl = resolve_conv_impl(config.get("conv_impl", "auto"))
        encoder = ConvEncoder(tuple(config.conv_channels), config.activation,
                              tuple(config.get("conv_kernels", ())), dense, conv_impl=impl)
        decoder = ConvDecoder(output_shape, tuple(config.conv_channels), config.activation,
                              tuple(config.get("deconv_kernels", ())), dense, conv_impl=impl)
    common = dict(encoder=encoder, decoder=decoder, latents=config.latents,
                  image_shape=image_shape,
                  learn_pixel_logvar=config.likelihood == "gaussian_learned")
    if config.model == "ae":
        return AE(code_activation=config.code_activation, **common)
    if config.model == "vamp_vae":
        from vae_jax.models import vamp  # it subclasses VAE: imported here, not at the top

        return vamp.VampVAE(components=int(config.vamp_components), **common)
    if config.model in ("two_layer_vae", "ladder_vae"):
        from vae_jax.models import ladder, two_layer

        cls = two_layer.TwoLayerVAE if config.model == "two_layer_vae" else ladder.LadderVAE
        return cls(top_hidden=tuple(config.top_hidden), top_latents=int(config.top_latents),
                   activation=config.activation, **common)
    if config.model == "vq_vae":
        from vae_jax.models import vq_vae

        return vq_vae.VQVAE(codebook_size=int(config.codebook_size),
                            code_dim=int(config.code_dim), ema=bool(config.vq_ema), **common)
    if config.objective == "factor_vae":
        return FactorVAE(discriminator_hidden=tuple(config.discriminator_hidden), **common)
    return VAE(**common)


class Discriminator(nn.Module):
    """z -> two logits (a sample of q(z), or of the product of its marginals): FactorVAE's
    total-correlation discriminator, leaky-ReLU (slope 0.2) dense layers as in Kim & Mnih."""

    hidden: Sequence[int]

    @nn.compact
    def __call__(self, z: jax.Array) -> jax.Array:
        h = z
        for width in self.hidden:
            h = nn.leaky_relu(nn.Dense(width)(h), negative_slope=0.2)
        return nn.Dense(2)(h)


class FactorVAE(VAE):
    """A VAE with FactorVAE's discriminator as a parameter subtree `discriminator`, trained in
    the same step by its own loss (objectives/disentangling.py)."""

    discriminator_hidden: Sequence[int] = (1000,) * 6

    def setup(self):
        super().setup()
        self.discriminator = Discriminator(tuple(self.discriminator_hidden))

    def discriminate(self, z: jax.Array) -> jax.Array:
        return self.discriminator(z)

    def __call__(self, x: jax.Array, key: jax.Array) -> dict[str, jax.Array]:
        outputs = super().__call__(x, key)
        if self.is_initializing():
            self.discriminator(outputs["z"])  # creates its parameters at init
        return outputs
