"""Where decoded and downloaded data is kept between runs."""

from __future__ import annotations

import os

CACHE_DIR_ENV = "VAE_JAX_CACHE_DIR"


def cache_dir(config, *parts: str, create: bool = True) -> str:
    """`config.cache_dir`, else $VAE_JAX_CACHE_DIR, else ~/.cache/vae_jax (joined with
    `parts`), created if missing (when `create`)."""
    root = (config.get("cache_dir") or os.environ.get(CACHE_DIR_ENV)
            or os.path.join(os.path.expanduser("~"), ".cache", "vae_jax"))
    directory = os.path.join(root, *parts)
    if create:
        os.makedirs(directory, exist_ok=True)
    return directory
