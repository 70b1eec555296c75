"""Denoising autoencoder on Fashion-MNIST with salt-and-pepper noise (the tutorials' setup).

The encoder sees a copy of each image with a fraction `noise_level` of its pixels set to 0 or
1 (drawn on the device, fresh every step); the loss scores the reconstruction of the clean
image. The `denoising` evaluator reports the PSNR of the noisy and of the denoised test images.

Command:  python -m vae_jax.main --config=configs/denoising_ae.py --workdir=/tmp/denoising_ae
          (experiments/denoising.py sweeps the noise level as one population)
Runtime:  25 s on the 2-core CPU (5 epochs).
Result:   docs/results.md, "The autoencoder family".
"""

from configs import ae


def get_config():
    config = ae.get_config()  # MLP 500, batch 128
    config.dataset = "fashion_mnist"
    config.binarization = "none"  # grey levels; cross-entropy against intensities in [0, 1]
    config.latents = 64
    config.corruption = "salt_pepper"
    config.noise_level = 0.2
    config.num_epochs = 5
    config.eval_every = 5
    config.evals = ("elbo", "denoising")
    config.keep_checkpoints = 1  # its experiment reads the last one only (resumes from it)
    return config
