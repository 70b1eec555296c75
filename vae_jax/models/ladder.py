"""The Ladder VAE (Sønderby et al. 2016) with two stochastic layers, on the generative model
of models/two_layer.py:

    bottom-up:  d1 = MLP(x) -> (mu_hat_1, var_hat_1);  d2 = MLP(d1) -> (mu_hat_2, var_hat_2)
    top-down:   q(z2 | x) = N(mu_hat_2, var_hat_2);  q(z1 | z2, x) = N(mu_q, var_q), the
                precision-weighted combination of N(mu_hat_1, var_hat_1) and p(z1 | z2):
                1 / var_q = 1 / var_hat_1 + 1 / var_p,  mu_q = (mu_hat_1 / var_hat_1
                + mu_p / var_p) * var_q
    generative: p(z2) = N(0, I), p(z1 | z2) = N(mu_p, var_p), p(x | z1)

p(z1 | z2) is one network, read by the top-down inference pass and by the generative model
alike. Sizes as the two-layer model: `hidden` (d1) / `latents` (z1), `top_hidden` (d2) /
`top_latents` (z2); with Burda et al.'s sizes both models have the same parameter count.

`encode` returns q(z1 | z2 = mu_hat_2, x), z1's posterior at z2's posterior mean. The
bottom-up (mu_hat_1, var_hat_1) is no posterior: it is a likelihood-like term that the
top-down prior corrects (a unit the model leaves to the prior gets var_hat_1 -> inf and an
arbitrary mu_hat_1). The true q(z1 | x) = E_q(z2|x) q(z1 | z2, x) has no closed form; its
plug-in at z2's mean is deterministic, uses both passes, and its logvar is the conditional
one (it leaves out z2's spread). So the code-based evaluators and the figures read z1 as the
inference network infers it, and `decode` reads z1 as in the two-layer model.

Unlike the paper: no batch normalisation; variances as exp(logvar) rather than a softplus; no
warm-up unless asked (`kl_warmup_steps` ramps beta on the whole log p(z1, z2) - log q ratio,
the paper's deterministic warm-up); two stochastic layers of Burda et al.'s sizes rather than
the paper's five (64-32-16-8-4 latents).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vae_jax.models.autoencoders import Encoding, gaussian_draw
from vae_jax.models.two_layer import TwoStochasticLayers


def precision_weighted(mean_a: jax.Array, logvar_a: jax.Array, mean_b: jax.Array,
                       logvar_b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(mean, logvar) of N(mean_a, var_a) N(mean_b, var_b) renormalised: 1/var = 1/var_a +
    1/var_b, mean = (mean_a / var_a + mean_b / var_b) * var. In log space, so that no
    precision is formed: logvar = -logaddexp(-logvar_a, -logvar_b), and mean_a's weight
    var / var_a = sigmoid(logvar_b - logvar_a) lies in [0, 1]."""
    logvar = -jnp.logaddexp(-logvar_a, -logvar_b)
    weight_a = jax.nn.sigmoid(logvar_b - logvar_a)
    return mean_b + weight_a * (mean_a - mean_b), logvar


class LadderVAE(TwoStochasticLayers):
    """The VAE's encoder and heads give d1 and (mu_hat_1, logvar_hat_1); `q_top` on d1 gives
    (mu_hat_2, logvar_hat_2); `p_bottom` is p(z1 | z2) in both passes."""

    def bottom_up(self, x: jax.Array) -> tuple[tuple[jax.Array, jax.Array],
                                               tuple[jax.Array, jax.Array]]:
        """((mu_hat_1, logvar_hat_1), (mu_hat_2, logvar_hat_2)), each [B, layer's latents]."""
        h = self.features(x)
        return (self.mean_head(h), self.logvar_head(h)), self.q_top(h)

    def encode(self, x: jax.Array) -> Encoding:
        """q(z1 | z2 = mu_hat_2, x): (mean, logvar) [B, latents] (the module docstring says
        why this is z1's code)."""
        (hat_mean, hat_logvar), (top_mean, _) = self.bottom_up(x)
        return Encoding(*precision_weighted(hat_mean, hat_logvar,
                                            *self.prior_bottom(top_mean)))

    def proposal(self, x: jax.Array, eps: jax.Array, eps_top: jax.Array) -> dict[str, jax.Array]:
        """Top-down: z2 ~ q(z2 | x), then z1 ~ q(z1 | z2, x) (TwoStochasticLayers' contract)."""
        (hat_mean, hat_logvar), (top_mean, top_logvar) = self.bottom_up(x)
        z_top = gaussian_draw(top_mean, top_logvar, eps_top)
        prior_mean, prior_logvar = self.prior_bottom(z_top)
        mean, logvar = precision_weighted(hat_mean, hat_logvar, prior_mean, prior_logvar)
        z = gaussian_draw(mean, logvar, eps)
        return dict(mean=mean, logvar=logvar, z=z, top_mean=top_mean, top_logvar=top_logvar,
                    z_top=z_top, prior_mean=prior_mean, prior_logvar=prior_logvar)
