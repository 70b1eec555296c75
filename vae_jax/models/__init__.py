"""Models: MLP and convolutional encoders and decoders, the CPU convolution kernels, and the
autoencoder families (`build(config, image_shape)`)."""

from vae_jax.models.autoencoders import (
    ACTIVATIONS,
    AE,
    ARCHITECTURES,
    CODE_ACTIVATIONS,
    CONV_IMPLS,
    LIKELIHOODS,
    MODELS,
    VAE,
    ConvDecoder,
    ConvEncoder,
    Discriminator,
    DownConv,
    Encoding,
    FactorVAE,
    MLPDecoder,
    MLPEncoder,
    UpConv,
    build,
    codes,
    reparameterize,
    resolve_conv_impl,
)

__all__ = [
    "ACTIVATIONS", "AE", "ARCHITECTURES", "CODE_ACTIVATIONS", "CONV_IMPLS", "LIKELIHOODS",
    "MODELS", "VAE",
    "ConvDecoder", "ConvEncoder", "Discriminator", "DownConv", "Encoding", "FactorVAE",
    "MLPDecoder", "MLPEncoder", "UpConv", "build", "codes", "reparameterize",
    "resolve_conv_impl",
]
