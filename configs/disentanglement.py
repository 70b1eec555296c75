"""The beta sweep on sprites with every disentanglement metric: betas 1, 2, 4, 8, 16 x 5 seeds,
25 members in ONE population (one compiled program).

Command:  python experiments/disentanglement.py --workdir=/tmp/disentanglement
Runtime:  11 min on the 2-core CPU (25 members x 6 epochs in one program, then every
          metric for every member).
Result:   no beta disentangles the sprites at this budget: MIG 0.011 (beta 1), 0.011, 0.015
          (beta 4), 0.011, 0.009 (beta 16); FactorVAE 0.32-0.35; KL 25.4 -> 6.2 nats and recon
          62.8 -> 148 nats as beta goes 1 -> 16 (means over 5 seeds; REPORT.md has every metric).
"""

from configs import compare


def get_config():
    config = compare.get_config()
    config.model = "vae"
    config.evals = ("elbo", "active_units", "mig", "sap", "dci", "factor_vae", "beta_vae")
    config.sweep.beta = (1.0, 2.0, 4.0, 8.0, 16.0)
    config.sweep.seed = (0, 1, 2, 3, 4)
    config.figures = True
    config.keep_checkpoints = 1  # its experiment reads the last one only (resumes from it)
    return config
