"""VQ-VAE (van den Oord et al. 2017) on dynamically binarised MNIST with an MLP: 784-500 ->
16 code vectors of dimension 8, each the nearest of 128 codebook entries (16 x 7 = 112 bits
per image), decoder 500 -> 784 Bernoulli logits, commitment_beta 0.25, Adam 1e-3, batch 128.
`--config.vq_ema=True` updates the codebook by EMA (decay `vq_ema_decay` 0.99) instead of the
codebook loss. `--config.dataset=sprites --config.num_train=20000` runs it on the sprites.
There is no samples figure: sampling needs a prior over the codes (the paper fits a PixelCNN),
which this config does not train.

Command:  python -m vae_jax.main --config=configs/vq_vae.py --workdir=/tmp/vq_vae
Runtime:  a short run (--config.num_train=10000 --config.num_test=1000 --config.num_epochs=3):
          182 s, with EMA 109 s, on the 2-core CPU shared with other jobs (load ~28).
Result:   docs/results.md, "VampPrior, VQ-VAE and two stochastic layers".
"""

from vae_jax.defaults import base_config


def get_config():
    config = base_config()
    config.dataset = "mnist"
    config.binarization = "dynamic"
    config.model = "vq_vae"
    config.objective = "vq"
    config.architecture = "mlp"
    config.hidden = (500,)
    config.latents = 16
    config.code_dim = 8
    config.codebook_size = 128
    config.commitment_beta = 0.25
    config.batch_size = 128
    config.learning_rate = 1e-3
    config.num_epochs = 10
    config.evals = ("elbo", "codebook", "active_units")
    return config
