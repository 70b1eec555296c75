"""A tiny config for tests and smoke runs: a small VAE on 1,024 MNIST images, two epochs.

Command:  python -m vae_jax.main --config=configs/test.py --workdir=/tmp/vae_test
Runtime:  a few seconds on a 2-core CPU (most of it compiling).
"""

from vae_jax.defaults import base_config


def get_config():
    config = base_config()
    config.dataset = "mnist"
    config.num_train = 1024
    config.num_test = 256
    config.hidden = (64,)
    config.latents = 4
    config.conv_channels = (8, 16, 16)
    config.batch_size = 64
    config.num_epochs = 2
    config.eval_batch_size = 128
    config.progress = False
    return config
