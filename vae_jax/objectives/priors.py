"""log p(z) for the model's prior: N(0, I) for a plain VAE, the VampPrior's mixture of
posteriors at its pseudo-inputs for `vamp_vae`, p(z1 | z2) p(z2) for `two_layer_vae` and
`ladder_vae` (their sampled KL here; their importance weights in objectives/hierarchical.py).

A model says which prior it has with the class attribute `prior_kind` (absent = standard
normal). The standard normal keeps the exact arithmetic it always had
(`gaussians.log_standard_normal`, the closed-form KL), so plain VAEs are bit-identical.
"""

from __future__ import annotations

import math

import jax

from vae_jax.objectives import gaussians


def has_standard_prior(model) -> bool:
    return getattr(model, "prior_kind", "standard_normal") == "standard_normal"


def is_hierarchical(model) -> bool:
    """Two stochastic layers (two_layer_vae, ladder_vae): weights over (z1, z2)."""
    return getattr(model, "prior_kind", None) == "hierarchical"


def mixture_log_density(z: jax.Array, means: jax.Array, logvars: jax.Array) -> jax.Array:
    """log (1/K) sum_k N(z; means_k, diag(exp(logvars_k))) for z [..., L], means [K, L]: [...]."""
    per_component = gaussians.log_diagonal_normal(z[..., None, :], means, logvars)
    return jax.nn.logsumexp(per_component, axis=-1) - math.log(means.shape[0])


def make_log_prior(model, params):
    """log_prior(z [..., L]) -> log p(z) [...] for the prior of `model` at `params`."""
    if has_standard_prior(model):
        return gaussians.log_standard_normal
    if is_hierarchical(model):
        raise ValueError("two stochastic layers have no marginal p(z1): use "
                         "objectives.hierarchical's weights over (z1, z2)")
    means, logvars = model.apply({"params": params}, method="prior_components")
    return lambda z: mixture_log_density(z, means, logvars)


def sampled_kl(model, params, outputs: dict) -> jax.Array:
    """log q(z|x) - log p(z) at the posterior sample `outputs['z']`, per example [B]: the
    one-sample Monte-Carlo KL a prior without a closed form needs (the VampPrior; with two
    stochastic layers log q(z1, z2|x) - log p(z1|z2) p(z2), `mean`/`logvar` and
    `top_mean`/`top_logvar` being q's parameters for z1 and z2 under the model's proposal:
    q(z1|x) q(z2|z1) bottom-up, q(z2|x) q(z1|z2,x) in the Ladder VAE)."""
    log_q = gaussians.log_diagonal_normal(outputs["z"], outputs["mean"], outputs["logvar"])
    if is_hierarchical(model):
        z_top = outputs["z_top"]
        return (log_q + gaussians.log_diagonal_normal(z_top, outputs["top_mean"],
                                                      outputs["top_logvar"])
                - gaussians.log_diagonal_normal(outputs["z"], outputs["prior_mean"],
                                                outputs["prior_logvar"])
                - gaussians.log_standard_normal(z_top))
    return log_q - make_log_prior(model, params)(outputs["z"])


def kl_terms(model, params, outputs: dict) -> jax.Array:
    """The KL the ELBO's schedules read, [B, columns]: per latent in closed form for N(0, I);
    one column (the sampled KL) for a learned prior, so free bits floor the total."""
    if has_standard_prior(model):
        return gaussians.kl_per_latent(outputs["mean"], outputs["logvar"])
    return sampled_kl(model, params, outputs)[:, None]


def kl_per_example(model, params, outputs: dict) -> jax.Array:
    """KL(q(z|x) || p(z)) per example [B]: closed form for N(0, I), sampled otherwise."""
    if has_standard_prior(model):
        return jax.vmap(gaussians.kl_to_standard_normal)(outputs["mean"], outputs["logvar"])
    return sampled_kl(model, params, outputs)


