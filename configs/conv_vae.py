"""Convolutional VAE on MNIST: Conv 32-64-128 stride 2 -> Dense to 20 latents, mirrored decoder.

Command:  python -m vae_jax.main --config=configs/conv_vae.py --workdir=/tmp/conv_vae
Runtime:  RUNTIME
Result:   RESULT
"""

from configs import vae


def get_config():
    config = vae.get_config()
    config.architecture = "conv"
    config.conv_channels = (32, 64, 128)
    config.num_epochs = 3
    return config
