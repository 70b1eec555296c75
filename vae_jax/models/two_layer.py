"""A VAE with two stochastic layers (Burda et al. 2015's second model):

    q(z1 | x) q(z2 | z1)          (bottom-up inference)
    p(z2) p(z1 | z2) p(x | z1)    (p(z2) = N(0, I), every conditional a diagonal Gaussian)

The paper's sizes are x-100-100-z1(100)-50-50-z2(50) with tanh: `hidden`/`latents` for the
bottom layer, `top_hidden`/`top_latents` for the top one; p(z1 | z2) mirrors q(z2 | z1).
`encode` returns q(z1 | x) and `decode` reads z1, so the code-based evaluators and the
figures see the bottom layer; the densities of the bound are objectives/hierarchical.py's.
`TwoStochasticLayers` holds the generative model and the sampling path that the Ladder VAE
(models/ladder.py) shares; the two differ only in their proposal q(z1, z2 | x).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from vae_jax.models.autoencoders import ACTIVATIONS, VAE, gaussian_draw, reparameterize


class GaussianMLP(nn.Module):
    """features -> (mean, logvar) of a diagonal Gaussian, through dense layers."""

    hidden: Sequence[int]
    latents: int
    activation: str = "tanh"

    @nn.compact
    def __call__(self, h: jax.Array) -> tuple[jax.Array, jax.Array]:
        for width in self.hidden:
            h = ACTIVATIONS[self.activation](nn.Dense(width)(h))
        return nn.Dense(self.latents, name="mean")(h), nn.Dense(self.latents, name="logvar")(h)


class TwoStochasticLayers(VAE):
    """What the two-layer VAE and the Ladder VAE share: p(z2) = N(0, I), p(z1 | z2) a
    GaussianMLP mirroring `top_hidden`, p(x | z1) the VAE's decoder, and the top inference
    network `q_top` (a GaussianMLP to z2: its input is the subclass's business).

    A subclass defines `proposal(x, eps, eps_top)`: the draws of (z1, z2) from its q(z1, z2 | x)
    for standard-normal noise eps [..., B, latents] and eps_top [..., B, top_latents], with the
    parameters of q(z1 | .), q(z2 | .) and p(z1 | z2) at those draws (`mean`, `logvar`, `z`,
    `top_mean`, `top_logvar`, `z_top`, `prior_mean`, `prior_logvar`): one path for the ELBO
    (`__call__`, one draw), the IWAE bound and the likelihood (objectives/hierarchical.py).
    """

    top_hidden: Sequence[int] = (50, 50)
    top_latents: int = 50
    activation: str = "tanh"

    def setup(self):
        super().setup()
        self.q_top = GaussianMLP(tuple(self.top_hidden), self.top_latents, self.activation)
        self.p_bottom = GaussianMLP(tuple(reversed(tuple(self.top_hidden))), self.latents,
                                    self.activation)

    def prior_bottom(self, z2: jax.Array) -> tuple[jax.Array, jax.Array]:
        """p(z1 | z2): (mean, logvar)."""
        return self.p_bottom(z2)

    def __call__(self, x: jax.Array, key: jax.Array) -> dict[str, jax.Array]:
        bottom_key, top_key = jax.random.split(key)
        batch = x.shape[:-3]
        draws = self.proposal(x, jax.random.normal(bottom_key, (*batch, self.latents)),
                              jax.random.normal(top_key, (*batch, self.top_latents)))
        return self._outputs(self.decode(draws["z"]), **draws)

    def sample_prior(self, key: jax.Array, num: int) -> jax.Array:
        """[num, latents] ancestral draws of z1: z2 ~ N(0, I), then z1 ~ p(z1 | z2)."""
        top_key, bottom_key = jax.random.split(key)
        z_top = jax.random.normal(top_key, (num, self.top_latents))
        return reparameterize(bottom_key, *self.prior_bottom(z_top))


class TwoLayerVAE(TwoStochasticLayers):
    """q(z1|x) is the VAE's encoder; q(z2|z1) (`q_top` on z1) and p(z1|z2) are GaussianMLPs."""

    def encode_top(self, z1: jax.Array) -> tuple[jax.Array, jax.Array]:
        """q(z2 | z1): (mean, logvar)."""
        return self.q_top(z1)

    def proposal(self, x: jax.Array, eps: jax.Array, eps_top: jax.Array) -> dict[str, jax.Array]:
        """Bottom-up: z1 ~ q(z1 | x), then z2 ~ q(z2 | z1)."""
        mean, logvar = self.encode(x)
        z = gaussian_draw(mean, logvar, eps)
        top_mean, top_logvar = self.encode_top(z)
        z_top = gaussian_draw(top_mean, top_logvar, eps_top)
        prior_mean, prior_logvar = self.prior_bottom(z_top)
        return dict(mean=mean, logvar=logvar, z=z, top_mean=top_mean, top_logvar=top_logvar,
                    z_top=z_top, prior_mean=prior_mean, prior_logvar=prior_logvar)
