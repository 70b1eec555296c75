"""Every config field with its default. `configs/*.py` start from `base_config()` and override.

Fields are flat snake_case (STYLE 8). The ones named in `hparams.SWEEPABLE` may differ between
members of one compiled population; the others are static and shape the program.
"""

from __future__ import annotations

import ml_collections
from ml_collections import config_dict

from vae_jax import hparams
from vae_jax.train import population


def _sweep_placeholders() -> ml_collections.ConfigDict:
    """config.sweep.<field> = (values...) declares a sweep; None = not swept.

    Placeholders exist so a sweep can be set from the command line
    (`--config.sweep.beta="(1, 4)"`); fields that cannot be swept have none.
    """
    sweep = ml_collections.ConfigDict()
    for name in hparams.SWEEPABLE + population.STATIC_SWEEPABLE:
        sweep[name] = config_dict.placeholder(tuple)
    return sweep


def base_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()

    # Data.
    config.dataset = "mnist"  # mnist | fashion_mnist | binarized_mnist | sprites | arrays
    config.data_dir = ""  # IDX folder; "" = $VAE_JAX_DATA_DIR
    config.data_source = "auto"  # auto (IDX, else TFDS) | idx | tfds
    config.tfds_data_dir = ""  # TFDS data_dir; "" = TFDS's default
    config.data_path = ""  # the .npz file of dataset=arrays
    config.binarization = "dynamic"  # dynamic | static | none
    config.num_train = 0  # 0 = the whole training split
    config.num_test = 0  # 0 = the whole test split
    config.exclude_train_labels = ()  # classes left out of training (anomaly detection)
    config.data_seed = 0  # batch order and binarisation: shared by all members of a run

    # Model (static).
    config.model = "vae"  # ae | vae
    config.architecture = "mlp"  # mlp | conv
    config.latents = 20
    config.hidden = (500,)  # MLP widths, encoder order; the decoder mirrors them
    config.conv_channels = (32, 64, 128)  # stride-2 convolutions, encoder order
    config.activation = "relu"  # relu | tanh | elu | gelu
    config.likelihood = "bernoulli"  # bernoulli | gaussian | gaussian_learned
    config.pixel_std = 0.1  # std of the fixed-variance Gaussian likelihood
    config.output_bias_init = "zeros"  # zeros | data_mean (logit of the mean training pixel)
    config.code_activation = "linear"  # AE code: linear | sigmoid | relu (sparse_kl: sigmoid)

    # Objective (static): vae: elbo | iwae | tcvae;  ae: recon | sparse_l1 | sparse_kl |
    # contractive. "default" = elbo for a VAE, recon for an AE. Any of them can be denoising.
    config.objective = "default"
    config.iwae_samples = 1  # k of the iwae objective (k = 1 is the VAE's single-sample ELBO)
    config.corruption = "none"  # denoising input noise: none | gaussian | salt_pepper | mask
    # tcvae: mws (weighted, the paper's main text) | mss (stratified, the paper's weights) |
    # mss_even (stratified, the other examples weighted evenly); see penalties.tc_log_weights
    config.tc_estimator = "mws"

    # Hparams (arrays; sweepable within one program).
    config.beta = 1.0
    config.learning_rate = 1e-3
    config.seed = 0  # model seed: initialisation and sampling noise
    config.noise_level = 0.0  # corruption: Gaussian std, or salt-and-pepper / mask rate
    config.penalty_weight = 0.0  # sparse_l1 / sparse_kl / contractive penalty weight
    config.sparsity_target = 0.05  # sparse_kl: target mean activation rho
    config.tc_alpha = 1.0  # tcvae: weight of the index-code mutual information
    config.tc_gamma = 1.0  # tcvae: weight of the dimension-wise KL (beta weighs the TC)
    config.kl_warmup_steps = 0.0  # steps of linear beta warm-up; 0 = off
    config.free_bits = 0.0  # per-latent KL floor in nats; 0 = off
    config.capacity_max = 0.0  # capacity annealing target C_max in nats; 0 = off
    config.capacity_steps = 0.0  # steps over which C grows from 0 to capacity_max
    # The same two ramps in epochs (0 = unused), converted to steps for the loaded dataset;
    # give a ramp in steps or in epochs, not both.
    config.kl_warmup_epochs = 0.0
    config.capacity_epochs = 0.0

    # Optimisation (static).
    config.batch_size = 128
    config.num_epochs = 10
    config.lr_schedule = "constant"  # constant | cosine | burda
    config.adam_b1 = 0.9
    config.adam_b2 = 0.999
    config.adam_eps = 1e-8

    # Populations.
    config.sweep = _sweep_placeholders()
    config.sweep_mode = "product"  # product | zip
    config.member_map = "auto"  # auto | vmap | map | chunked | unrolled (train.map_members)
    config.memory_limit_gb = 0.0  # device memory a population may use; 0 = what is free

    # Evaluation, logging, checkpoints.
    config.eval_every = 1  # epochs
    config.eval_batch_size = 1000
    # Evaluators (vae_jax/metrics/evaluators.py) run every eval_every epochs and after the last.
    config.evals = ("elbo",)
    config.final_evals = ()  # evaluators added to the last evaluation only (nll, say)
    config.nll_samples = 5000  # k of the importance-sampled likelihood (Burda et al. use 5000)
    # Samples decoded at once per image, and images at once: bound memory, not the result.
    # 2,000-5,000 decoded rows at a time all ran within 10% of each other on CPU (50 x 100,
    # 10 x 500, 20 x 100; 100 x 50 was 10% slower).
    config.nll_chunk = 100
    config.nll_batch_size = 50
    config.probe_train_size = 10_000  # training codes the probes are fitted on
    config.disentanglement_votes = 2000  # FactorVAE/BetaVAE classifier training points
    # dci's importance model: random_forest | gradient_boosting (metrics.disentanglement.dci);
    # records and reports that give DCI name it (record field dci_importance_model).
    config.dci_importance_model = "random_forest"
    config.checkpoint_every = 1  # epochs
    config.keep_checkpoints = 3
    config.figures = True
    config.progress = True
    return config
