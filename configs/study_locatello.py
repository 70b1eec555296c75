"""Locatello et al. (2019)'s unsupervised study on sprites: one of its six models, its six
published hyperparameter values x 50 seeds (300 members), disentanglement_lib's setup.

Pick the model after the file name (default beta_vae):
  beta_vae       beta in {1, 2, 4, 6, 8, 16}
  annealed_vae   c_max in {5, 10, 25, 50, 75, 100} nats over 100k steps, gamma = 1000
                 (capacity annealing: beta = gamma times |KL - C|)
  factor_vae     gamma in {10, 20, 30, 40, 50, 100}
  dip_vae_i      lambda_od in {1, 2, 5, 10, 20, 50}, lambda_d = 10 lambda_od
  dip_vae_ii     lambda_od in {1, 2, 5, 10, 20, 50}, lambda_d = lambda_od
  beta_tcvae     beta in {1, 2, 4, 6, 8, 10}

Command:  python -m vae_jax.main --config=configs/study_locatello.py:factor_vae \
              --workdir=/runs/locatello/factor_vae/slice_0 --config.sweep_slice=0/50
          (every model and slice, on 8 GPUs or a SLURM array: docs/scaling.md); then
          python -m vae_jax.report --out=/runs/locatello/report /runs/locatello/*/slice_*
Runtime:  300k steps of batch 64 per member, 1,800 members for the six models (images/s and
          the compute it implies: docs/results.md). Not run in full here; a test trains every
          model for a few steps.
Result:   docs/results.md, "Disentanglement on sprites" (what this CPU affords; the full study
          is for accelerators). Its report comes from vae_jax.report (each metric's
          distribution over seeds, the metrics' rank correlation, rate-distortion).

disentanglement_lib (methods/shared/architectures.py, config/unsupervised_study_v1): encoder
conv 32-32-64-64, kernels 4, 4, 2, 2, stride 2, 'same', ReLU, dense 256, 10 Gaussian latents;
decoder dense 256, dense 1024 (4x4x64), transposed convolutions 64-32-32-1 all with kernel 4,
stride 2; Bernoulli likelihood; batch 64; Adam 1e-4 (0.9, 0.999, 1e-8), the FactorVAE
discriminator Adam 1e-4 (0.5, 0.9), six layers of 1000; 300,000 steps. Here: conv_kernels,
deconv_kernels and conv_dense express that network; the decoder's transposed convolutions pad
as lax's 'SAME' does, which may place an even kernel's taps one pixel from TensorFlow's.
Differences: sprites (the dSprites factors, rendered) rather than dSprites itself; training in
epochs of 691,200 rendered images without replacement (of the 718,848 distinct factor tuples;
the test split shares no image with them), 28 epochs = 302,400 steps, rather than
300,000 steps sampled with replacement; beta-TCVAE's TC by the minibatch-weighted
estimator (disentanglement_lib's: its constant offset does not change the gradients); MIG on
the 15,000 test codes (disentanglement_lib: 10,000), DCI on 10,000 / 5,000 of them with
gradient boosting, the FactorVAE and BetaVAE scores on 10,000 / 5,000 votes, SAP on the test
codes; metrics at the end only, on the posterior means.
"""

from vae_jax.defaults import base_config

SEEDS = tuple(range(50))
MODELS = {  # name: (objective, {field: six values}, fixed fields)
    "beta_vae": ("elbo", {"beta": (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)}, {}),
    "annealed_vae": ("elbo", {"capacity_max": (5.0, 10.0, 25.0, 50.0, 75.0, 100.0)},
                     {"beta": 1000.0, "capacity_steps": 100_000.0}),
    "factor_vae": ("factor_vae", {"factor_vae_gamma": (10.0, 20.0, 30.0, 40.0, 50.0, 100.0)},
                   {}),
    "dip_vae_i": ("dip_vae_i", {"dip_lambda_od": (1.0, 2.0, 5.0, 10.0, 20.0, 50.0),
                                "dip_lambda_d": (10.0, 20.0, 50.0, 100.0, 200.0, 500.0)}, {}),
    "dip_vae_ii": ("dip_vae_ii", {"dip_lambda_od": (1.0, 2.0, 5.0, 10.0, 20.0, 50.0),
                                  "dip_lambda_d": (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)}, {}),
    "beta_tcvae": ("tcvae", {"beta": (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)},
                   {"tc_estimator": "mws"}),
}


def get_config(model: str = "beta_vae"):
    if model not in MODELS:
        raise ValueError(f"unknown study model {model!r}; choose one of {', '.join(MODELS)} "
                         "(--config=configs/study_locatello.py:<model>)")
    objective, values, fixed = MODELS[model]
    config = base_config()
    config.dataset = "sprites"
    config.num_train = 691_200  # 10,800 steps; of the 718,848 distinct sprites (dSprites: 737,280)
    config.num_test = 15_000  # shares no image with training (docs/evaluators.md)
    config.model = "vae"
    config.architecture = "conv"
    config.conv_channels = (32, 32, 64, 64)
    config.conv_kernels = (4, 4, 2, 2)
    config.deconv_kernels = (4, 4, 4, 4)
    config.conv_dense = 256
    config.latents = 10
    config.likelihood = "bernoulli"
    config.binarization = "none"  # sprites are 0 / 255 already
    config.objective = objective
    config.batch_size = 64
    config.learning_rate = 1e-4
    config.num_epochs = 28  # 28 x 10,800 steps = 302,400
    config.eval_every = 26
    config.evals = ("elbo", "active_units")
    config.final_evals = ("mig", "sap", "dci", "factor_vae", "beta_vae")
    config.disentanglement_votes = 10_000
    config.dci_importance_model = "gradient_boosting"
    config.keep_checkpoints = 1
    config.figures = False  # 300 members: the report draws the study's figures
    config.progress = False
    for name, value in fixed.items():
        config[name] = value
    # Each value with every seed: zipped lists (a product would cross the tied DIP weights).
    config.sweep_mode = "zip"
    config.sweep.seed = SEEDS * len(next(iter(values.values())))
    for name, six in values.items():
        config.sweep[name] = tuple(v for v in six for _ in SEEDS)
    return config
