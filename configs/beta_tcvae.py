"""beta-TCVAE (Chen et al. 2018) on sprites: recon + alpha MI + beta TC + gamma dim-wise KL,
estimated with minibatch-stratified sampling (`mss`, the paper's weights:
penalties.tc_log_weights); beta = 6 weighs the total correlation. The train
log carries the estimates `train/mi`, `train/tc`, `train/dwkl`.

Command:  python -m vae_jax.main --config=configs/beta_tcvae.py --workdir=/tmp/beta_tcvae
Runtime:  20 s on the 2-core CPU (6 epochs).
Result:   docs/results.md, "The autoencoder family".
"""

from configs import compare


def get_config():
    config = compare.get_config()
    config.model = "vae"
    config.objective = "tcvae"
    config.beta = 6.0
    config.tc_alpha = 1.0
    config.tc_gamma = 1.0
    # Stratified sampling with Chen et al.'s weights: the weighted estimator (mws, the paper's
    # main text) is a flag away, but its terms are biased by ~(latents - 1) log N nats
    # (penalties.tc_decomposition); mss_even spreads the other examples' weight evenly.
    config.tc_estimator = "mss"
    config.batch_size = 256  # the batch estimates of log q(z) improve with the batch
    config.learning_rate = 2e-3
    config.sweep.beta = None
    config.sweep.seed = None
    config.evals = ("elbo", "active_units", "mig", "dci")
    return config
