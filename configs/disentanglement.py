"""The beta sweep on sprites with every disentanglement metric: betas 1, 2, 4, 8, 16 x 5 seeds,
25 members in ONE population (one compiled program); MIG, DCI and FactorVAE also along training.

Command:  python experiments/disentanglement.py --workdir=/tmp/disentanglement
Runtime:  11 min on the 2-core CPU with every metric at the end only (25 members x 6 epochs in
          one program, then every metric for every member); the evaluations at epochs 2 and 4
          (MIG, DCI, FactorVAE) add to that, not re-measured.
Result:   docs/results.md, "Disentanglement against beta on sprites".
"""

from configs import compare


def get_config():
    config = compare.get_config()
    config.model = "vae"
    # MIG, DCI and FactorVAE every 2 epochs (the along-training figure); SAP and BetaVAE at the end.
    config.eval_every = 2
    config.evals = ("elbo", "active_units", "mig", "dci", "factor_vae")
    config.final_evals = ("sap", "beta_vae")
    # disentanglement_lib's gradient boosting costs ~1 CPU-minute per member and evaluation
    # here; boosting on binned latents reads D and C within 0.02 of it, informativeness up
    # to 0.04 high (docs/evaluators.md).
    config.dci_importance_model = "hist_gradient_boosting"
    config.sweep.beta = (1.0, 2.0, 4.0, 8.0, 16.0)
    config.sweep.seed = (0, 1, 2, 3, 4)
    config.figures = True
    config.keep_checkpoints = 1  # its experiment reads the last one only (resumes from it)
    return config
