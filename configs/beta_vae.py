"""beta-VAE (Higgins et al. 2017) with beta = 4 on MNIST, the VAE's architecture otherwise.

Command:  python -m vae_jax.main --config=configs/beta_vae.py --workdir=/tmp/beta_vae
Runtime:  35 s on the 2-core CPU (10 epochs).
Result:   docs/results.md, "VAE on MNIST".
"""

from configs import vae


def get_config():
    config = vae.get_config()
    config.beta = 4.0
    return config
