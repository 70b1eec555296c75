"""Convolutional VAE for a folder of 64x64 RGB images (dataset=image_folder), discretised
logistic likelihood, results in bits per dimension (eval/bpd).

Command:  python experiments/render_colour_sprites.py --out=/tmp/colour_sprites --num=2000
          python -m vae_jax.main --config=configs/conv_vae_images.py --workdir=/tmp/images \\
              --config.data_path=/tmp/colour_sprites [--config.input=host]
Runtime:  7.3 min for 10 epochs on 2,000 colour sprites (2-core CPU shared with ~6 other jobs,
          load ~26: 20 s/epoch, 85 images/s, after a 2.4 min first epoch that compiles).
Result:   docs/results.md, "Colour images: coloured sprites in a folder".
Any folder of PNG / JPEG images works (resized to 64x64; class sub-folders become labels).
"""

from vae_jax.defaults import base_config


def get_config():
    config = base_config()
    config.dataset = "image_folder"
    config.image_size = 64
    config.image_channels = 3
    config.binarization = "none"  # 8-bit colour pixels, modelled as they are
    config.likelihood = "discretized_logistic"  # or discretized_logistic_mixture (num_mixtures)
    config.architecture = "conv"
    config.conv_channels = (16, 32, 64)  # 64 -> 32 -> 16 -> 8
    config.latents = 32
    config.batch_size = 32
    config.num_epochs = 10
    config.eval_batch_size = 100
    return config
