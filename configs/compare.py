"""The comparison main job: AE vs VAE vs beta-VAEs (betas 1, 2, 4, 8) x 3 seeds on sprites.

Command:  python experiments/compare.py --workdir=/tmp/compare
          (--config.dataset=mnist or fashion_mnist for labelled data; sprites needs no download)
Runtime:  8.6 min on the 2-core CPU shared with the test suite (15 members: 3 AE + 12 VAE,
          two compiled programs; DCI by hist_gradient_boosting is ~half of it).
Result:   docs/results.md, "The main job: AE vs VAE vs beta-VAE on sprites".
"""

from vae_jax.defaults import base_config


def get_config():
    config = base_config()
    config.dataset = "sprites"
    config.binarization = "none"  # sprites are already binary
    config.num_train = 10_000
    config.num_test = 2_000
    config.architecture = "mlp"
    config.hidden = (256,)
    config.latents = 10
    config.batch_size = 64
    config.learning_rate = 1e-3
    config.num_epochs = 6
    config.eval_every = 6  # the code-based evaluators run once, at the end
    config.evals = ("elbo", "active_units", "linear_probe", "mig", "dci", "factor_vae")
    config.probe_train_size = 5_000
    config.disentanglement_votes = 800
    # disentanglement_lib's gradient boosting would add ~1 CPU-minute per member; the same
    # boosting on binned latents reads D and C within 0.02 of it, informativeness up to
    # 0.04 high (docs/evaluators.md).
    config.dci_importance_model = "hist_gradient_boosting"
    # The VAE population; the script adds an AE population over the same seeds.
    config.sweep.beta = (1.0, 2.0, 4.0, 8.0)
    config.sweep.seed = (0, 1, 2)
    config.keep_checkpoints = 1  # its experiment reads the last one only (resumes from it)
    config.final_checkpoint = "params"  # 15 members' Adam moments would double the workdir
    return config
