"""DIP-VAE-I (Kumar et al. 2018) on sprites: the ELBO plus a penalty pushing the covariance of
the posterior means towards the identity; lambda_od = 1 and 10 with lambda_d = 10 lambda_od
(Locatello et al.'s DIP-VAE-I setting), two members in one population.
`--config.objective=dip_vae_ii --config.dip_lambda_d=...` (lambda_d = lambda_od) gives DIP-VAE-II.

Command:  python -m vae_jax.main --config=configs/dip_vae.py --workdir=/tmp/dip_vae
Runtime:  ~1.2 min of CPU on the 2-core machine (1 min 9 s user time; 6 epochs, 2 members).
Result:   docs/results.md, "FactorVAE and DIP-VAE on sprites".
"""

from configs import compare


def get_config():
    config = compare.get_config()
    config.model = "vae"
    config.objective = "dip_vae_i"
    config.sweep.beta = None
    config.sweep.seed = None
    config.sweep_mode = "zip"
    config.sweep.dip_lambda_od = (1.0, 10.0)
    config.sweep.dip_lambda_d = (10.0, 100.0)
    config.evals = ("elbo", "active_units", "mig", "dci", "factor_vae")
    # The DCI numbers above came from the fast forest; gradient_boosting (the default) gives
    # disentanglement_lib's numbers at ~1 CPU-minute per member.
    config.dci_importance_model = "random_forest"
    return config
