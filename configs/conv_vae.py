"""Convolutional VAE on MNIST: Conv 32-64-128 stride 2 -> Dense to 20 latents, mirrored decoder.

Command:  python -m vae_jax.main --config=configs/conv_vae.py --workdir=/tmp/conv_vae
Runtime:  1.1 min on the 2-core CPU (3 epochs; ~17 s, 3,500 images/s, after the first).
Result:   docs/results.md, "Convolutional VAE on MNIST".
"""

from configs import vae


def get_config():
    config = vae.get_config()
    config.architecture = "conv"
    config.conv_channels = (32, 64, 128)
    config.num_epochs = 3
    return config
