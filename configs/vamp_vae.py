"""VampPrior VAE (Tomczak & Welling 2018) on dynamically binarised MNIST: the paper's MLP sizes
(two hidden layers of 300, 40 latents; plain ReLU layers, not its gated ones), K = 500
pseudo-inputs initialised at N(0.05, 0.01), batch 100, Adam 5e-4, no KL warm-up.
`--config.model=vae` trains the same network with the N(0, I) prior.

Command:  python -m vae_jax.main --config=configs/vamp_vae.py --workdir=/tmp/vamp
          (add --config.final_evals='("nll",)' for the importance-sampled NLL, k = 5000)
Runtime:  a short run (--config.num_epochs=2 --config.num_test=2000
          --config.final_evals='("nll",)' --config.nll_samples=500): 924 s on the 2-core CPU
          shared with other jobs (load ~28; every step also encodes the 500 pseudo-inputs);
          the same run with --config.model=vae took 192 s under a lighter load.
Result:   docs/results.md, "VampPrior, VQ-VAE and two stochastic layers".
"""

from vae_jax.defaults import base_config


def get_config():
    config = base_config()
    config.dataset = "mnist"
    config.binarization = "dynamic"
    config.model = "vamp_vae"
    config.vamp_components = 500
    config.architecture = "mlp"
    config.hidden = (300, 300)
    config.latents = 40
    config.batch_size = 100
    config.learning_rate = 5e-4
    config.num_epochs = 10
    config.evals = ("elbo", "active_units")
    return config
