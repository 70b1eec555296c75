"""vae_jax: autoencoders in JAX, and whole ablations trained as one compiled program."""

from vae_jax import fast_threefry

# Same random bits as jax's default, drawn without a loop on CPU (see fast_threefry).
fast_threefry.use_unrolled_threefry_on_cpu()


def __getattr__(name: str):
    # Lazy: `import vae_jax` stays light; vae_jax.load_run imports the package on first use.
    if name == "load_run":
        from vae_jax.api import load_run

        return load_run
    raise AttributeError(f"module 'vae_jax' has no attribute {name!r}")
