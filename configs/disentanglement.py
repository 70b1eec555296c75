"""The beta sweep on sprites with every disentanglement metric: betas 1, 2, 4, 8, 16 x 5 seeds,
25 members in ONE population (one compiled program).

Command:  python experiments/disentanglement.py --workdir=/tmp/disentanglement
Runtime:  RUNTIME
Result:   RESULT
"""

from configs import compare


def get_config():
    config = compare.get_config()
    config.model = "vae"
    config.evals = ("elbo", "active_units", "mig", "sap", "dci", "factor_vae", "beta_vae")
    config.sweep.beta = (1.0, 2.0, 4.0, 8.0, 16.0)
    config.sweep.seed = (0, 1, 2, 3, 4)
    config.figures = True
    return config
