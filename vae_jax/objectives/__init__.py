"""Objectives: likelihoods, Gaussian densities and KL, KL schedules, AE penalties, and the
losses built from them (`build(config, model, dataset_size)`)."""

from vae_jax.objectives.gaussians import kl_per_latent, kl_to_standard_normal
from vae_jax.objectives.likelihoods import (
    DISCRETIZED,
    bernoulli_log_likelihood,
    bits_per_dim,
    check_binarization,
    decoder_log_likelihood,
    gaussian_log_likelihood,
    likelihood_channels,
    make_log_likelihood,
    make_mean_image,
    make_sample_image,
    reconstruction_nll,
)
from vae_jax.objectives.losses import (
    OBJECTIVES,
    LossFn,
    build,
    make_ae_loss,
    make_iwae_loss,
    make_tcvae_loss,
    make_vae_loss,
    resolve,
)
from vae_jax.objectives.priors import log_importance_weights, vae_log_joint

__all__ = [
    "DISCRETIZED", "bits_per_dim", "check_binarization", "likelihood_channels",
    "make_mean_image", "make_sample_image",
    "OBJECTIVES", "LossFn", "bernoulli_log_likelihood", "build", "decoder_log_likelihood",
    "gaussian_log_likelihood", "kl_per_latent", "kl_to_standard_normal",
    "log_importance_weights", "make_ae_loss", "make_iwae_loss", "make_log_likelihood",
    "make_tcvae_loss", "make_vae_loss", "reconstruction_nll", "resolve", "vae_log_joint",
]
