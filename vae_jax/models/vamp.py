"""The VampPrior VAE (Tomczak & Welling 2018): the prior is a mixture of the posteriors at K
learned pseudo-inputs, p(z) = (1/K) sum_k q(z | u_k), instead of N(0, I).

The pseudo-inputs are parameters shaped like images. They start at N(0.05, 0.01) per pixel
and are read through a hard clip to [0, 1] (the paper's `pseudoinputs_mean`/`_std` defaults
and its hardtanh(0, 1) nonlinearity), so the encoder always sees valid pixels. The mixture's
log density is the objectives' business (objectives/priors.py); the model only supplies the
components and ancestral samples.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from vae_jax.models.autoencoders import VAE, Encoding, reparameterize

PSEUDO_INPUT_MEAN = 0.05
PSEUDO_INPUT_STD = 0.01


def _pseudo_input_init(key, shape, dtype=jnp.float32):
    return PSEUDO_INPUT_MEAN + PSEUDO_INPUT_STD * jax.random.normal(key, shape, dtype)


class VampVAE(VAE):
    """A Gaussian-posterior VAE whose prior is the VampPrior with `components` pseudo-inputs."""

    components: int = 500

    def setup(self):
        super().setup()
        self.pseudo_inputs = self.param("pseudo_inputs", _pseudo_input_init,
                                        (self.components, *self.image_shape))

    def prior_components(self) -> Encoding:
        """(mean, logvar), each [K, latents]: q(z | u_k) at the clipped pseudo-inputs."""
        return self.encode(jnp.clip(self.pseudo_inputs, 0.0, 1.0))

    def sample_prior(self, key: jax.Array, num: int) -> jax.Array:
        """[num, latents] draws of p(z): a uniform component, then its Gaussian."""
        component_key, noise_key = jax.random.split(key)
        mean, logvar = self.prior_components()
        which = jax.random.randint(component_key, (num,), 0, self.components)
        return reparameterize(noise_key, mean[which], logvar[which])
