"""vae_jax: autoencoders in JAX, and whole ablations trained as one compiled program.

Importing it changes no global state (no jax flag, no lowering rule): what vae_jax tunes for
its own runs it sets up inside `run.train_and_evaluate` and undoes there.
"""


def __getattr__(name: str):
    # Lazy: `import vae_jax` stays light; vae_jax.load_run imports the package on first use.
    if name == "load_run":
        from vae_jax.api import load_run

        return load_run
    raise AttributeError(f"module 'vae_jax' has no attribute {name!r}")
