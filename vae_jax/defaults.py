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
    config.dataset = "mnist"  # which data (tfds:<name>: a TFDS image dataset prepared locally)
    config.data_dir = ""  # IDX folder; "" = $VAE_JAX_DATA_DIR
    config.data_source = "auto"  # auto (IDX, else TFDS) | idx | tfds
    config.tfds_data_dir = ""  # TFDS data_dir; "" = TFDS's default
    # mnist / fashion_mnist with no local files: download them once into the cache dir.
    config.download = True
    # Base URL of the IDX files ({dataset} = the name); "" = $VAE_JAX_DOWNLOAD_URL or a public
    # mirror.
    config.download_url = ""
    config.data_path = ""  # the .npz file of dataset=arrays, the folder of image_folder
    config.cache_dir = ""  # decoded / downloaded data; "" = $VAE_JAX_CACHE_DIR or ~/.cache/vae_jax
    # image_folder and tfds:<name>: images centre-cropped and resized to image_size^2
    # (antialiased; 0 = keep their size, which must then be the same for all).
    config.image_size = 0
    config.image_channels = 3  # image_folder / tfds:<name>: RGB (3) or grey (1)
    config.on_bad_image = "error"  # image_folder: an unreadable file is an error | skip
    config.test_fraction = 0.1  # image_folder: held-out test share when no train/ + test/

    config.binarization = "dynamic"  # dynamic | static | none
    config.num_train = 0  # 0 = the whole training split
    config.num_test = 0  # 0 = the whole test split
    config.exclude_train_labels = ()  # classes left out of training (anomaly detection)
    config.data_seed = 0  # batch order and binarisation: shared by all members of a run
    # Where the training set lives: device (gathered inside the jitted epoch) | host (streamed
    # by a prefetcher, same batches) | auto (host when the device copy would not fit).
    config.input = "auto"
    config.host_chunk_steps = 16  # host input: batches per transfer and per jitted scan
    config.host_prefetch = 2  # host input: chunks prepared ahead, on the host and the device

    # Model (static).
    config.model = "vae"  # ae | vae | vamp_vae | vq_vae | two_layer_vae | ladder_vae
    config.architecture = "mlp"  # mlp | conv
    config.latents = 20  # size of z: a VAE's Gaussian latents, an AE's code
    config.hidden = (500,)  # MLP widths, encoder order; the decoder mirrors them
    config.conv_channels = (32, 64, 128)  # stride-2 convolutions, encoder order
    config.conv_kernels = ()  # encoder kernel sizes, one per conv_channels; () = all 3
    config.deconv_kernels = ()  # decoder's transposed convolutions' kernels, its order; () = 3
    # how the 3x3 stride-2 convolutions compute: xla (XLA's convolution ops) | matmul (the same
    # values as one matmul each, models/conv_by_matmul.py: far faster gradients on XLA:CPU) |
    # auto (matmul on CPU, xla elsewhere). Resolved at setup; config.json logs the result.
    # Layers of another kernel size (conv_kernels, deconv_kernels) always use XLA's ops.
    config.conv_impl = "auto"  # auto | xla | matmul:
    config.conv_dense = 0  # conv: a dense hidden layer after the encoder's convolutions and
    # before the decoder's grid (disentanglement_lib: 256); 0 = none
    config.activation = "relu"  # relu | tanh | elu | gelu
    # bernoulli | gaussian | gaussian_learned | discretized_logistic |
    # discretized_logistic_mixture (8-bit pixels, colour: binarization=none; reports eval/bpd)
    config.likelihood = "bernoulli"
    config.num_mixtures = 10  # components of discretized_logistic_mixture
    config.pixel_std = 0.1  # std of the fixed-variance Gaussian likelihood
    config.output_bias_init = "zeros"  # zeros | data_mean (logit of the mean training pixel)
    config.code_activation = "linear"  # AE code: linear | sigmoid | relu (sparse_kl: sigmoid)
    config.codebook_size = 512  # vq_vae: entries K of the codebook
    config.code_dim = 16  # vq_vae: dimension of each entry; `latents` code vectors per image
    config.vq_ema = False  # vq_vae: codebook by EMA (decay vq_ema_decay) instead of its loss
    config.vq_ema_decay = 0.99  # vq_vae with vq_ema: decay of the codebook's moving averages
    config.top_hidden = (50, 50)  # two_layer_vae, ladder_vae: widths below z2 (Burda et al.)
    config.top_latents = 50  # two_layer_vae, ladder_vae: size of z2 (`latents` is z1's)
    config.vamp_components = 500  # vamp_vae: pseudo-inputs K of the VampPrior (the paper's 500)

    # Objective (static): the range of `objective` lists each model's objectives, read from
    # the registry objectives.losses.OBJECTIVES; "default" is the model's first. Any of them
    # can be denoising.
    config.objective = "default"  # the loss, one of its model's objectives
    config.iwae_samples = 1  # k of the iwae objective (k = 1 is the VAE's single-sample ELBO)
    config.corruption = "none"  # denoising input noise: none | gaussian | salt_pepper | mask
    # factor_vae: the discriminator's hidden widths (Kim & Mnih: six layers of 1000, leaky ReLU).
    config.discriminator_hidden = (1000, 1000, 1000, 1000, 1000, 1000)
    # tcvae: mws (weighted, the paper's main text) | mss (stratified, the paper's weights) |
    # mss_even (stratified, the other examples weighted evenly); see penalties.tc_log_weights
    config.tc_estimator = "mws"

    # Hparams (arrays; sweepable within one program). A member whose model or objective
    # does not read one of them, set away from its default, is refused by the validation
    # pass (beta with an AE, free_bits with iwae, noise_level without a corruption, ...).
    config.beta = 1.0  # weight of the KL term (1 = the ELBO); tcvae: of the TC term
    config.learning_rate = 1e-3  # peak learning rate; lr_schedule gives its shape
    config.seed = 0  # model seed: initialisation and sampling noise
    config.noise_level = 0.0  # corruption: Gaussian std, or salt-and-pepper / mask rate
    config.penalty_weight = 0.0  # sparse_l1 / sparse_kl / contractive penalty weight
    config.sparsity_target = 0.05  # sparse_kl: target mean activation rho
    config.tc_alpha = 1.0  # tcvae: weight of the index-code mutual information
    config.tc_gamma = 1.0  # tcvae: weight of the dimension-wise KL (beta weighs the TC)
    config.kl_warmup_steps = 0.0  # steps of linear beta warm-up; 0 = off
    # free_bits and capacity_* shape the KL term of elbo (every VAE model), factor_vae and
    # dip_vae_*: free bits floor each latent's batch-mean KL, or the batch-mean total
    # KL where it is sampled (vamp_vae, two_layer_vae, ladder_vae); capacity steers the
    # total towards C(t). iwae (log p(z)/q(z|x) inside each weight) and tcvae (the KL split
    # into MI, TC and dimension-wise KL) have no such term: the validation refuses them.
    config.free_bits = 0.0  # per-latent KL floor in nats; 0 = off.
    config.capacity_max = 0.0  # capacity annealing target C_max in nats; 0 = off
    config.capacity_steps = 0.0  # steps over which C grows from 0 to capacity_max
    config.factor_vae_gamma = 10.0  # factor_vae: weight of the discriminator's TC estimate
    # dip_vae_i / dip_vae_ii: off-diagonal and diagonal covariance weights (Locatello et al.:
    # lambda_d = 10 lambda_od for DIP-VAE-I, lambda_d = lambda_od for DIP-VAE-II).
    config.dip_lambda_od = 1.0  # dip_vae_*: weight of the off-diagonal covariance term
    config.dip_lambda_d = 10.0  # dip_vae_*: weight of the diagonal (variance - 1) term
    config.commitment_beta = 0.25  # vq_vae: commitment loss weight (the paper's 0.25)
    # The same two ramps in epochs (0 = unused), converted to steps for the loaded dataset;
    # give a ramp in steps or in epochs, not both.
    config.kl_warmup_epochs = 0.0  # beta warm-up length in epochs; 0 = unused
    config.capacity_epochs = 0.0  # capacity annealing length in epochs; 0 = unused

    # Optimisation (static).
    config.batch_size = 128  # training batch; all members of a population share the batches
    config.num_epochs = 10  # passes over the training split
    config.lr_schedule = "constant"  # constant | cosine | burda
    config.adam_b1 = 0.9  # Adam's first-moment decay
    config.adam_b2 = 0.999  # Adam's second-moment decay
    config.adam_eps = 1e-8  # Adam's epsilon (Burda et al.'s IWAE runs use 1e-4)

    # Populations.
    config.sweep = _sweep_placeholders()  # sweep.<field> = (values...); see sweepable
    config.sweep_mode = "product"  # product | zip
    # A study split over jobs: "i/N" trains the i-th of N contiguous blocks of the sweep's
    # members (i from 0), each member with its index, config and seed as in the whole sweep.
    config.sweep_slice = ""  # "i/N": this job's slice of the sweep; "" = every member
    config.member_map = "auto"  # auto | vmap | map | unrolled (which when: train/members.py)
    config.memory_limit_gb = 0.0  # device memory a population may use; 0 = what is free
    # Devices (train.mesh): members x data. 0 = automatic: members first (the largest divisor
    # of the member count that divides the device count), the remaining devices split batches.
    config.mesh_members = 0  # devices along the member axis
    config.mesh_data = 0  # devices each batch is split over (data parallel)
    # Fixed-order gradients (docs/scaling.md): the same bits on any number of data devices.
    config.grad_shards = 0  # groups per batch, gradients summed in a fixed order; 0 = off
    # jax's unrolled threefry lowering on CPU while the run compiles (fast_threefry.py): the
    # same random bits, ~8% faster MLP epochs on CPU; False keeps jax's rolled loop. Only the
    # run's programs: the lowering jax had is put back when the run ends.
    config.fast_threefry = True  # threefry unrolled on CPU during the run:

    # Evaluation, logging, checkpoints.
    config.eval_every = 1  # epochs
    config.eval_batch_size = 1000  # test images per chunk of the jitted evaluation
    # Evaluators (vae_jax/metrics/evaluators.py) run every eval_every epochs and after the last.
    config.evals = ("elbo",)
    config.final_evals = ()  # evaluators added to the last evaluation only (nll, say)
    config.nll_samples = 5000  # k of the importance-sampled likelihood (Burda et al. use 5000)
    # The nll evaluator's chunks bound memory, not the result (CPU speed: docs/performance.md).
    config.nll_chunk = 100  # importance samples decoded at once per image
    config.nll_batch_size = 50  # images at once in the nll evaluator
    config.probe_train_size = 10_000  # training codes the probes are fitted on
    config.disentanglement_votes = 2000  # FactorVAE/BetaVAE classifier training points
    # DCI's per-factor importance classifier (metrics/importance.py): gradient_boosting is
    # disentanglement_lib's (the published numbers); hist_gradient_boosting and random_forest
    # are faster approximations. Records carry it as 'dci_importance_model'.
    config.dci_importance_model = "gradient_boosting"
    config.checkpoint_every = 1  # epochs
    config.keep_checkpoints = 3  # newest checkpoints kept per population
    # full | params: the last epoch's checkpoint without the Adam moments (a third of the size;
    # enough to evaluate and load the run, not to extend it with a larger num_epochs).
    config.final_checkpoint = "full"
    config.figures = True  # PNG figures of every member after training
    config.progress = True  # tqdm progress bar per population
    return config
