"""The prior p(z) of each model family, behind one small protocol (`Prior`) that the losses, the
evaluators and the figures ask, chosen by the model's class: `of(model)`.

* `VAE` (and `FactorVAE`), `AE`: N(0, I), `StandardNormal`; the KL in closed form, per latent
  (an AE has no KL: its figures decode N(0, I) draws).
* `VampVAE`: the VampPrior's mixture of posteriors at its pseudo-inputs, `VampPrior`; the KL
  sampled at the posterior draw.
* `TwoStochasticLayers` (two_layer_vae, ladder_vae): p(z1 | z2) p(z2),
  objectives/hierarchical.py's `TwoLayerPrior`; the KL sampled over (z1, z2).
* `VQVAE`: none, `NoPrior` (nothing to sample).

A new prior is one `Prior` subclass registered for its model class (`@register(ModelClass)`);
a subclass of a registered model class has its parent's prior. The model supplies the networks
a prior reads (`prior_components`, `prior_bottom`, its `sample_prior`); the densities are here.
The standard normal keeps the exact arithmetic it always had (`gaussians.log_standard_normal`,
the closed-form KL), so plain VAEs are bit-identical.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from vae_jax.errors import ConfigError
from vae_jax.models import autoencoders, vamp, vq_vae
from vae_jax.objectives import gaussians
from vae_jax.objectives.likelihoods import decoder_log_likelihood

PRIORS: dict[type, type[Prior]] = {}  # model class -> its prior; filled by `register`


def register(*model_classes: type):
    """Registers a `Prior` subclass as the prior of `model_classes` (and their subclasses)."""

    def add(prior_cls: type[Prior]) -> type[Prior]:
        for cls in model_classes:
            PRIORS[cls] = prior_cls
        return prior_cls

    return add


def of(model) -> Prior:
    """The prior of `model`: the one registered for its class or its nearest registered base."""
    for cls in type(model).__mro__:
        if cls in PRIORS:
            return PRIORS[cls](model)
    raise ConfigError(f"model class {type(model).__name__} has no prior: register a Prior for "
                      "it (objectives/priors.py, @priors.register)")


class Prior:
    """What every caller asks of a prior; these defaults serve a prior over one latent layer
    without a closed-form KL (its KL is sampled at the posterior draw). A subclass defines
    `log_prior`, and overrides what it computes otherwise."""

    def __init__(self, model):
        self.model = model

    def log_prior(self, params) -> Callable[[jax.Array], jax.Array]:
        """-> log_prior(z [..., L]) -> log p(z) [...] at `params`."""
        raise NotImplementedError(f"{type(self).__name__} has no log density")

    def sampled_kl(self, params, outputs: dict) -> jax.Array:
        """log q(z|x) - log p(z) at the posterior sample `outputs['z']`, per example [B]: the
        one-sample Monte-Carlo KL a prior without a closed form needs."""
        log_q = gaussians.log_diagonal_normal(outputs["z"], outputs["mean"], outputs["logvar"])
        return log_q - self.log_prior(params)(outputs["z"])

    def kl_terms(self, params, outputs: dict) -> jax.Array:
        """The KL the ELBO's schedules read, [B, columns]: one column (the sampled KL), so
        free bits floor the total."""
        return self.sampled_kl(params, outputs)[:, None]

    def kl_per_example(self, params, outputs: dict) -> jax.Array:
        """KL(q(z|x) || p(z)) per example [B] (the elbo evaluator's)."""
        return self.sampled_kl(params, outputs)

    def draws_kl(self, mean: jax.Array, logvar: jax.Array, log_ratio: jax.Array) -> jax.Array:
        """The KL an IWAE loss reports, per example [B], from q's (mean, logvar) [B, L] and its
        k draws' log p(z) - log q(z|x) [k, B]: their mean, sign flipped."""
        del mean, logvar
        return -log_ratio.mean(axis=0)

    def log_weights(self, log_likelihood, params):
        """-> fn(x, key, num_samples) -> log w = log p(x, z) - log q(z|x) [num_samples, B], z
        drawn from q(z|x): the importance weights of the likelihood evaluator."""
        encode_fn = lambda x: self.model.apply({"params": params}, x, method="encode")  # noqa: E731
        log_joint = vae_log_joint(self.model, log_likelihood, params)
        return lambda x, key, num_samples: log_importance_weights(encode_fn, log_joint, x, key,
                                                                  num_samples)

    def sample(self, params, key: jax.Array, num: int) -> jax.Array | None:
        """[num, latents] draws of p(z) (the samples figure, `Member.sample`), by the model's
        own sampler `sample_prior`; None for a model without a prior to sample."""
        return jax.jit(lambda key: self.model.apply({"params": params}, key, num,
                                                    method="sample_prior"))(key)


@register(autoencoders.VAE, autoencoders.AE)
class StandardNormal(Prior):
    """N(0, I): log density and KL in closed form. An AE has no prior; its figures decode
    N(0, I) draws all the same."""

    def log_prior(self, params):
        del params
        return gaussians.log_standard_normal

    def kl_terms(self, params, outputs):
        """Per latent in closed form [B, latents] (free bits floor each latent)."""
        return gaussians.kl_per_latent(outputs["mean"], outputs["logvar"])

    def kl_per_example(self, params, outputs):
        return jax.vmap(gaussians.kl_to_standard_normal)(outputs["mean"], outputs["logvar"])

    def draws_kl(self, mean, logvar, log_ratio):
        del log_ratio
        return gaussians.kl_to_standard_normal(mean, logvar)

    def sample(self, params, key, num):
        return jax.random.normal(key, (num, self.model.latents))


@register(vamp.VampVAE)
class VampPrior(Prior):
    """(1/K) sum_k q(z | u_k) at the pseudo-inputs u_k (models/vamp.py)."""

    def log_prior(self, params):
        means, logvars = self.model.apply({"params": params}, method="prior_components")
        return lambda z: mixture_log_density(z, means, logvars)


@register(vq_vae.VQVAE)
class NoPrior(Prior):
    """No prior to sample: a VQ-VAE's codes need a separately trained prior."""

    def sample(self, params, key, num):
        return None


def mixture_log_density(z: jax.Array, means: jax.Array, logvars: jax.Array) -> jax.Array:
    """log (1/K) sum_k N(z; means_k, diag(exp(logvars_k))) for z [..., L], means [K, L]: [...]."""
    per_component = gaussians.log_diagonal_normal(z[..., None, :], means, logvars)
    return jax.nn.logsumexp(per_component, axis=-1) - math.log(means.shape[0])


# ------------------------------------------------------------------------ importance weights
def log_importance_weights(encode_fn, log_joint_fn, x: jax.Array, key: jax.Array,
                           num_samples: int) -> jax.Array:
    """log w_s = log p(x, z_s) - log q(z_s | x) for z_s ~ q(z | x), s = 1..num_samples.

    Args:
      encode_fn: x [B, ...] -> (mean, logvar), each [B, latents]: the proposal q(z | x).
      log_joint_fn: (x [B, ...], z [S, B, latents]) -> log p(x, z) [S, B].
    Returns: [num_samples, B].
    """
    mean, logvar = encode_fn(x)
    eps = jax.random.normal(key, (num_samples, *mean.shape), mean.dtype)
    z = mean + jnp.exp(0.5 * logvar) * eps
    return log_joint_fn(x, z) - gaussians.log_diagonal_normal(z, mean, logvar)


def vae_log_joint(model, log_likelihood, params):
    """log_joint(x [B,...], z [S,B,L]) = log p(x | z) + log p(z), [S, B], for `params`
    (p(z): the model's prior)."""
    log_px_z = decoder_log_likelihood(model, log_likelihood, params)
    log_prior = of(model).log_prior(params)
    return lambda x, z: log_px_z(x, z) + log_prior(z)
