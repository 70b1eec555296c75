"""The Ladder VAE (Sønderby et al. 2016) with two stochastic layers on dynamically binarised
MNIST, in the sizes and setup of configs/two_layer_vae.py (Burda et al.'s second model):
bottom-up 784-100-100 -> (mu_hat_1, var_hat_1) for z1(100), -50-50 -> q(z2|x) for z2(50),
top-down q(z1|z2,x) the precision-weighted combination of the bottom-up Gaussian and
p(z1|z2), tanh; p(z2) = N(0, I), p(z1|z2) and p(x|z1) as in the two-layer model. Trained with
the IWAE bound (k = `iwae_samples`; k = 1 is the ELBO), batch 20, Adam eps 1e-4, output bias
at the logit of the mean pixel, the paper's learning-rate stages compressed into `num_epochs`.
No batch normalisation; warm-up with --config.kl_warmup_steps=N (models/ladder.py).
experiments/likelihood_mnist.py trains it beside the two-layer model (--ladder_k).

Command:  python -m vae_jax.main --config=configs/ladder_vae.py --workdir=/tmp/ladder
Runtime:  a short run (--config.num_train=10000 --config.num_test=1000 --config.num_epochs=1
          --config.final_evals='("nll",)' --config.nll_samples=500): 26 s at k = 5, 28 s at
          k = 1; 57 s with --config.num_epochs=5; on the 2-core CPU shared with a test run.
Result:   docs/results.md, "VampPrior, VQ-VAE and two stochastic layers".
"""

from configs import two_layer_vae


def get_config():
    config = two_layer_vae.get_config()
    config.model = "ladder_vae"
    return config
