"""IWAE (Burda et al. 2015) on dynamically binarised MNIST with the paper's one-stochastic-
layer model: MLP 784-200-200 (tanh) -> 50 latents, mirrored decoder, batch 20, Adam eps 1e-4,
decoder output bias at the logit of the mean training pixel, the paper's learning-rate
schedule (3^i epochs at 1e-3 * 10^(-i/7)) compressed into `num_epochs`.
`--config.iwae_samples=1` is the VAE trained with the same code; experiments/likelihood_mnist.py
runs the paper's table.

Command:  python -m vae_jax.main --config=configs/iwae.py --workdir=/tmp/iwae
Runtime:  70 s on the 2-core CPU (10 epochs, k = 5).
Result:   docs/results.md, "The autoencoder family" (10 epochs) and "The IWAE paper's table".
"""

from vae_jax.defaults import base_config


def get_config():
    config = base_config()
    config.dataset = "mnist"
    config.binarization = "dynamic"
    config.model = "vae"
    config.objective = "iwae"
    config.iwae_samples = 5
    config.architecture = "mlp"
    config.hidden = (200, 200)
    config.activation = "tanh"
    config.latents = 50
    config.output_bias_init = "data_mean"
    config.batch_size = 20
    config.learning_rate = 1e-3
    config.adam_eps = 1e-4
    config.lr_schedule = "burda"
    config.num_epochs = 10
    config.eval_every = 10
    config.evals = ("elbo", "active_units")
    config.keep_checkpoints = 1  # its experiment reads the last one only (resumes from it)
    return config
