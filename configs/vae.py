"""VAE on MNIST with the official Flax example's setup: MLP 784-500-20, batch 128, Adam 1e-3.

Command:  python -m vae_jax.main --config=configs/vae.py --workdir=/tmp/vae
          (MNIST IDX files in --config.data_dir or $VAE_JAX_DATA_DIR, e.g. ../shared/data)
Runtime:  36 s on the 2-core CPU (10 epochs at 20,000-29,000 images/s after a ~5 s compile).
          Add --config.final_evals='("nll",)' for the importance-sampled NLL (k = 5000
          over the 10,000 test images): ~5 min more.
Result:   docs/results.md, "VAE on MNIST".
"""

from vae_jax.defaults import base_config


def get_config():
    config = base_config()
    config.dataset = "mnist"
    config.binarization = "dynamic"
    config.model = "vae"
    config.architecture = "mlp"
    config.hidden = (500,)
    config.latents = 20
    config.batch_size = 128
    config.learning_rate = 1e-3
    config.num_epochs = 10
    return config
