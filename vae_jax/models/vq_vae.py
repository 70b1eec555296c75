"""VQ-VAE (van den Oord et al. 2017): the encoder's output is split into `latents` vectors of
`code_dim`, each replaced by its nearest neighbour in a learned codebook of `codebook_size`
entries; the decoder reads the quantised vectors, and the straight-through estimator passes
the decoder's gradient to the encoder unchanged.

With `ema=True` the codebook is not trained by gradients but follows exponential moving
averages of the encoder outputs assigned to each entry (the paper's appendix). The EMA
statistics are parameters of the `quantizer` that receive no gradient (Adam leaves them as
they are); the loss computes their next values and returns them as `state_updates`, which the
train step writes after the gradient step (objectives/vq.py, train/step.py). So they are
checkpointed, vmapped over members and restored like every other parameter.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from vae_jax.models.autoencoders import Encoding, _Autoencoder, _check_image_shape


def _codebook_init(key, shape, dtype=jnp.float32):
    # Uniform with variance 1 / code_dim per coordinate: entries of norm ~1, the scale of a
    # Dense layer's outputs at lecun init (Sonnet's uniform_unit_scaling).
    limit = math.sqrt(3.0 / shape[-1])
    return jax.random.uniform(key, shape, dtype, -limit, limit)


class VectorQuantizer(nn.Module):
    """Nearest-neighbour lookup in a [codebook_size, code_dim] codebook."""

    codebook_size: int
    code_dim: int
    ema: bool = False

    def setup(self):
        self.embedding = self.param("embedding", _codebook_init,
                                    (self.codebook_size, self.code_dim))
        if self.ema:
            # N_k starts at one and m_k at e_k, so the first update's e_k = m_k / N_k moves
            # from the initial codebook rather than from zero.
            self.ema_cluster_size = self.param("ema_cluster_size", nn.initializers.ones,
                                               (self.codebook_size,))
            self.ema_embed_sum = self.param("ema_embed_sum", lambda _: self.embedding)

    def __call__(self, z_e: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(e at the nearest entries, their indices) for z_e [..., code_dim]."""
        e = self.embedding
        distances = (jnp.sum(z_e**2, axis=-1, keepdims=True) - 2.0 * z_e @ e.T
                     + jnp.sum(e**2, axis=-1))
        indices = jnp.argmin(distances, axis=-1)
        return e[indices], indices


class VQVAE(_Autoencoder):
    """x -> z_e [latents, code_dim] -> nearest codebook entries z_q -> logits. `key` is
    accepted and unused (one call signature with AE and VAE)."""

    codebook_size: int = 512
    code_dim: int = 16
    ema: bool = False

    def setup(self):
        super().setup()
        self.pre_quant = nn.Dense(self.latents * self.code_dim, name="pre_quant")
        self.quantizer = VectorQuantizer(self.codebook_size, self.code_dim, self.ema,
                                         name="quantizer")

    def encode_continuous(self, x: jax.Array) -> jax.Array:
        """z_e, [B, latents, code_dim]."""
        _check_image_shape(x, self.image_shape)
        h = self.pre_quant(self.encoder(x))
        return h.reshape(h.shape[:-1] + (self.latents, self.code_dim))

    def encode(self, x: jax.Array) -> Encoding:
        """The quantised code, flat [B, latents * code_dim]: what the decoder reads
        (deterministic: no logvar)."""
        z_q, _ = self.quantizer(self.encode_continuous(x))
        return Encoding(z_q.reshape(z_q.shape[:-2] + (-1,)))

    def __call__(self, x: jax.Array, key: jax.Array | None = None) -> dict[str, jax.Array]:
        z_e = self.encode_continuous(x)
        z_q, indices = self.quantizer(z_e)
        straight_through = z_e + jax.lax.stop_gradient(z_q - z_e)
        logits = self.decode(straight_through.reshape(z_e.shape[:-2] + (-1,)))
        return self._outputs(logits, z=z_q.reshape(z_q.shape[:-2] + (-1,)), z_e=z_e, z_q=z_q,
                             indices=indices)
