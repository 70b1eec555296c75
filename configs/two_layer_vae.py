"""Burda et al. (2015)'s second model on dynamically binarised MNIST: two stochastic layers,
784-100-100-z1(100)-50-50-z2(50) with tanh, p(z2) = N(0, I), p(z1|z2) and p(x|z1) mirroring
the inference network; trained with the IWAE bound (k = `iwae_samples`; k = 1 is the VAE)
in the setup of configs/iwae.py (batch 20, Adam eps 1e-4, output bias at the logit of the
mean pixel, the paper's learning-rate stages compressed into `num_epochs`).
experiments/likelihood_mnist.py runs the paper's table at its k = 1 (VAE) and k = 50 (IWAE).

Command:  python -m vae_jax.main --config=configs/two_layer_vae.py --workdir=/tmp/two_layer
Runtime:  a short run (--config.num_train=10000 --config.num_test=1000 --config.num_epochs=1
          --config.final_evals='("nll",)' --config.nll_samples=500): 323 s at k = 5, 265 s at
          k = 1, on the 2-core CPU shared with other jobs (load ~28).
Result:   docs/results.md, "VampPrior, VQ-VAE and two stochastic layers".
"""

from configs import iwae


def get_config():
    config = iwae.get_config()
    config.model = "two_layer_vae"
    config.hidden = (100, 100)
    config.latents = 100
    config.top_hidden = (50, 50)
    config.top_latents = 50
    config.iwae_samples = 5
    return config
