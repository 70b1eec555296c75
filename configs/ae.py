"""Deterministic autoencoder on MNIST: the VAE's MLP 784-500-20 trained on reconstruction alone.

Command:  python -m vae_jax.main --config=configs/ae.py --workdir=/tmp/ae
          (MNIST IDX files in --config.data_dir or $VAE_JAX_DATA_DIR, e.g. ../shared/data)
Runtime:  35 s on the 2-core CPU (10 epochs).
Result:   docs/results.md, "VAE on MNIST" (beside the VAE of the same architecture).
"""

from configs import vae


def get_config():
    config = vae.get_config()
    config.model = "ae"
    return config
