"""beta-VAE (Higgins et al. 2017) with beta = 4 on MNIST, the VAE's architecture otherwise.

Command:  python -m vae_jax.main --config=configs/beta_vae.py --workdir=/tmp/beta_vae
Runtime:  35 s on the 2-core CPU (10 epochs).
Result:   test negative ELBO 120.08 nats after 10 epochs: recon 110.11, KL 9.97 (beta = 1:
          74.80 and 27.50): the KL bottleneck trades reconstruction for a simpler code.
"""

from configs import vae


def get_config():
    config = vae.get_config()
    config.beta = 4.0
    return config
