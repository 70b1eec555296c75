"""Deterministic autoencoder on MNIST: the VAE's MLP 784-500-20 trained on reconstruction alone.

Command:  python -m vae_jax.main --config=configs/ae.py --workdir=/tmp/ae
          (MNIST IDX files in --config.data_dir or $VAE_JAX_DATA_DIR, e.g. ../shared/data)
Runtime:  35 s on the 2-core CPU (10 epochs).
Result:   test reconstruction NLL 61.80 nats after 10 epochs (the VAE's: 74.80).
"""

from configs import vae


def get_config():
    config = vae.get_config()
    config.model = "ae"
    return config
