"""vae_jax: autoencoders in JAX, and whole ablations trained as one compiled program."""

from vae_jax import fast_threefry

# Same random bits as jax's default, drawn without a loop on CPU (see fast_threefry).
fast_threefry.use_unrolled_threefry_on_cpu()
