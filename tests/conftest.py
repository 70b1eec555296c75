"""Shared test setup: key-reuse checking on, real data from $VAE_JAX_DATA_DIR or ../shared/data."""

import os
import pathlib

import jax
import pytest

# Every test runs with JAX's key-reuse checker: reusing a PRNG key is an error.
jax.config.update("jax_debug_key_reuse", True)
# Many tests compile the same small programs: a persistent cache makes the second one free.
jax.config.update("jax_compilation_cache_dir", os.path.join(
    os.environ.get("PYTEST_JAX_CACHE", "/tmp"), "vae_jax_test_jax_cache"))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA_DIR = os.environ.get("VAE_JAX_DATA_DIR") or str(REPO.parent / "shared" / "data")
HAVE_MNIST = os.path.isdir(os.path.join(DATA_DIR, "mnist"))
HAVE_FASHION = os.path.isdir(os.path.join(DATA_DIR, "fashion_mnist"))


def subprocess_env(**variables) -> dict:
    """The environment for a subprocess that runs jax: this one's, with its persistent
    compilation cache (so a relaunch of the same run compiles nothing), plus `variables`."""
    return dict(os.environ, JAX_PLATFORMS="cpu",
                JAX_COMPILATION_CACHE_DIR=jax.config.jax_compilation_cache_dir,
                JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0", **variables)


def pytest_collection_modifyitems(config, items):
    if os.environ.get("CI") and not HAVE_MNIST:
        raise pytest.UsageError(f"CI must have the real data: no MNIST under {DATA_DIR}")
    skip = pytest.mark.skip(reason=f"no MNIST IDX files under {DATA_DIR} (set VAE_JAX_DATA_DIR)")
    for item in items:
        if "real_data" in item.keywords and not HAVE_MNIST:
            item.add_marker(skip)
    # The slow tests first: the two xdist workers then end together instead of one running a
    # two-minute test alone at the end (a stable sort keeps the order otherwise).
    items.sort(key=lambda item: "slow" not in item.keywords)


@pytest.fixture
def data_dir() -> str:
    return DATA_DIR


@pytest.fixture
def tiny_config(data_dir):
    """configs/test.py on the real MNIST files, without figures or progress bar."""
    from configs import test as test_config

    config = test_config.get_config()
    config.data_dir = data_dir
    config.figures = False
    return config
