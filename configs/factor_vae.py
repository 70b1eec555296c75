"""FactorVAE (Kim & Mnih 2018) on sprites: the ELBO plus gamma times a discriminator's estimate
of the total correlation of q(z); gamma = 10 and gamma = 40 in one population.

Command:  python -m vae_jax.main --config=configs/factor_vae.py --workdir=/tmp/factor_vae
Runtime:  ~1.3 min of CPU on the 2-core machine (1 min 19 s user time; 6 epochs, 2 members).
Result:   docs/results.md, "FactorVAE and DIP-VAE on sprites".
The paper's discriminator (six layers of 1000) is `--config.discriminator_hidden`'s default;
this CPU-budget config uses two layers of 256.
"""

from configs import compare


def get_config():
    config = compare.get_config()
    config.model = "vae"
    config.objective = "factor_vae"
    config.discriminator_hidden = (256, 256)
    config.sweep.beta = None
    config.sweep.seed = None
    config.sweep.factor_vae_gamma = (10.0, 40.0)
    config.evals = ("elbo", "active_units", "mig", "dci", "factor_vae")
    # The DCI numbers above came from the fast forest; gradient_boosting (the default) gives
    # disentanglement_lib's numbers at ~1 CPU-minute per member.
    config.dci_importance_model = "random_forest"
    return config
