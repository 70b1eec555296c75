"""Checks of one member's combination of fields, before its data is loaded (validation.py).

Each field alone has passed `validation.FIELD_RULES`; here the fields meet: an objective of the
other model, an evaluator the dataset cannot serve (known from the dataset's name: `arrays` is
only known once loaded, and `evaluators.validate` checks it then), a convolution stack too deep
for the images. Fields that this member's model or objective ignores give a warning each.
"""

from __future__ import annotations

import dataclasses
import functools

from vae_jax import defaults
from vae_jax.data import sprites
from vae_jax.errors import ConfigError
from vae_jax.metrics import evaluators
from vae_jax.objectives import losses
from vae_jax.train import grad_shards


@dataclasses.dataclass(frozen=True)
class DatasetFacts:
    """What a dataset offers, known from its name alone (None: only known once loaded)."""

    labels: bool | None
    factors: bool | None
    renders: bool  # draws new images from chosen factors (factor_vae, beta_vae)
    image_side: int | None
    train_size: int | None  # with num_train = 0
    classes: int | None


_MNIST = DatasetFacts(True, False, False, 28, 60_000, 10)
DATASET_FACTS = {
    "mnist": _MNIST,
    "fashion_mnist": _MNIST,
    "binarized_mnist": _MNIST,
    "sprites": DatasetFacts(True, True, True, sprites.IMAGE_SHAPE[0], 50_000,
                            sprites.FACTOR_SIZES[0]),
    "arrays": DatasetFacts(None, None, False, None, None, None),
    "image_folder": DatasetFacts(None, False, False, None, None, None),
}
_UNKNOWN = DatasetFacts(None, None, False, None, None, None)  # tfds:<name>: known once loaded
PENALTY_OBJECTIVES = ("sparse_l1", "sparse_kl", "contractive")
KL_FIELDS = ("beta", "kl_warmup_steps", "free_bits", "capacity_max", "capacity_steps")

# (fields, ignored when(member, objective), why): a warning when such a field differs from its
# default, since the run then does not do what its config says.
IGNORED = (
    (KL_FIELDS, lambda c, o: c.model == "ae", "model=ae has no KL term"),
    (("penalty_weight",), lambda c, o: o not in PENALTY_OBJECTIVES,
     f"only the {', '.join(PENALTY_OBJECTIVES)} objectives have a penalty"),
    (("sparsity_target",), lambda c, o: o != "sparse_kl", "only objective=sparse_kl uses it"),
    (("code_activation",), lambda c, o: c.model != "ae", "only an AE's code has an activation"),
    (("noise_level",), lambda c, o: c.corruption == "none",
     "corruption=none: set --config.corruption to train a denoising model"),
    (("tc_alpha", "tc_gamma", "tc_estimator"), lambda c, o: o != "tcvae",
     "only objective=tcvae uses it"),
    (("pixel_std",), lambda c, o: c.likelihood != "gaussian", "only likelihood=gaussian uses it"),
    (("data_path",), lambda c, o: c.dataset not in ("arrays", "image_folder"),
     "only dataset=arrays and image_folder read it"),
    (("data_source", "tfds_data_dir"),
     lambda c, o: c.dataset in ("sprites", "arrays", "image_folder"),
     "only mnist, fashion_mnist and binarized_mnist come from IDX files or TFDS"),
)


def check_member(config) -> dict[str, str]:
    """Raises a ConfigError for a combination of `config`'s fields that cannot work; returns
    {field: warning} for the fields it ignores."""
    objective = losses.resolve(config)  # objective vs model, sparse_kl, iwae_samples
    facts = DATASET_FACTS.get(config.dataset, _UNKNOWN)
    _check_model(config, facts)
    _check_data(config, facts)
    _check_grad_shards(config, objective)
    for name in tuple(config.evals) + tuple(config.final_evals):
        _check_evaluator(name, config, facts)
    return ignored_fields(config, objective)


def _check_model(config, facts: DatasetFacts) -> None:
    if config.output_bias_init == "data_mean" and config.architecture != "mlp":
        raise ConfigError("output_bias_init=data_mean sets the MLP decoder's output bias: use "
                          "--config.architecture=mlp or --config.output_bias_init=zeros")
    depth = len(config.conv_channels)
    if config.architecture == "conv" and facts.image_side and facts.image_side < 2**depth:
        raise ConfigError(
            f"conv_channels: {depth} stride-2 convolutions need images of at least "
            f"{2**depth} pixels a side; {config.dataset} has {facts.image_side}. Use fewer "
            "--config.conv_channels or --config.architecture=mlp")
    if config.corruption in ("salt_pepper", "mask") and config.noise_level > 1:
        raise ConfigError(f"noise_level={config.noise_level} is the rate of {config.corruption} "
                          "pixels: it must lie in [0, 1] (--config.noise_level=...)")


def _check_data(config, facts: DatasetFacts) -> None:
    excluded = tuple(config.exclude_train_labels)
    if excluded and facts.labels is False:
        raise ConfigError(f"exclude_train_labels needs labels; dataset {config.dataset!r} has "
                          "none")
    if excluded and facts.classes:
        outside = sorted(c for c in excluded if c >= facts.classes)
        if outside:
            raise ConfigError(f"exclude_train_labels: {config.dataset} has classes 0 to "
                              f"{facts.classes - 1}, not {outside}")
        if len(set(excluded)) == facts.classes:
            raise ConfigError("exclude_train_labels leaves out every class: nothing to train on")
    if facts.train_size:
        size = min(config.num_train or facts.train_size, facts.train_size)
        if config.dataset == "sprites":
            size = config.num_train or facts.train_size  # generated: any number
        if config.batch_size > size:
            raise ConfigError(f"batch_size={config.batch_size} exceeds the {size} training "
                              "examples; lower --config.batch_size (or raise num_train)")


def _check_grad_shards(config, objective: str) -> None:
    """grad_shards splits each batch into groups of their own (train/grad_shards.py): the batch
    and the data devices must split evenly, and the loss must be a mean over examples."""
    shards = config.grad_shards
    if not shards:
        return
    if config.batch_size % shards:
        raise ConfigError(f"grad_shards={shards} does not divide batch_size="
                          f"{config.batch_size}; choose a divisor (--config.grad_shards=...)")
    if config.mesh_data and shards % config.mesh_data:
        raise ConfigError(f"grad_shards={shards} groups do not split over mesh_data="
                          f"{config.mesh_data} devices; choose a multiple of mesh_data")
    off = "set --config.grad_shards=0 (data-parallel gradients then agree to round-off only)"
    if objective in grad_shards.BATCH_OBJECTIVES:
        raise ConfigError(f"objective {objective} estimates its loss from the statistics of "
                          f"the whole batch; grad_shards={shards} would make each group of "
                          f"{config.batch_size // shards} its own batch, another objective: "
                          f"{off}")
    if config.model == "vq_vae" and config.vq_ema:
        raise ConfigError(f"vq_ema moves the codebook by the whole batch's code statistics, "
                          f"which grad_shards={shards} splits into groups: {off}, or "
                          "--config.vq_ema=False")
    for name in grad_shards.BATCH_HPARAMS:  # the ELBO's KL schedules (objectives.kl_loss)
        if objective == "elbo" and config[name]:
            raise ConfigError(f"{name}={config[name]} acts on the batch-mean KL of each "
                              f"latent, which grad_shards={shards} splits into groups: {off}, "
                              f"or --config.{name}=0")


def _check_evaluator(name: str, config, facts: DatasetFacts) -> None:
    where = f"evaluator {name!r} (config.evals / final_evals)"
    if name in evaluators.ON_LABELS and facts.labels is False:
        raise ConfigError(f"{where} needs labels; dataset {config.dataset!r} has none")
    if name in evaluators.ON_FACTORS and facts.factors is False:
        raise ConfigError(f"{where} needs ground-truth factors (dataset=sprites, or arrays with "
                          f"train_factors/test_factors); {config.dataset!r} has none")
    if name in ("factor_vae", "beta_vae") and not facts.renders:
        raise ConfigError(f"{where} renders new images with chosen factors: it needs "
                          f"dataset=sprites, not {config.dataset!r}")
    if name == "anomaly" and not config.exclude_train_labels:
        raise ConfigError(f"{where} scores the classes left out of training: set "
                          "--config.exclude_train_labels='(k,)' on a labelled dataset")
    if name == "nll" and config.model not in evaluators.LIKELIHOOD_MODELS:
        raise ConfigError(f"{where} needs one of {', '.join(evaluators.LIKELIHOOD_MODELS)} "
                          f"(model {config.model!r} defines no likelihood)")
    if name == "codebook" and config.model != "vq_vae":
        raise ConfigError(f"{where} measures a codebook: it needs model=vq_vae")
    if name == "denoising" and config.corruption == "none":
        raise ConfigError(f"{where} scores the corrupted test images: set --config.corruption "
                          "(gaussian | salt_pepper | mask) and --config.noise_level")


@functools.cache
def _defaults() -> dict:
    return defaults.base_config().to_dict()


def ignored_fields(config, objective: str) -> dict[str, str]:
    """{field: warning} for the fields that differ from their defaults but that this member
    ignores."""
    base = _defaults()
    warnings = {}
    for fields, ignored, why in IGNORED:
        if not ignored(config, objective):
            continue
        for name in fields:
            if config[name] != base[name]:
                warnings[name] = f"config.{name}={config[name]!r} is ignored ({why})"
    return warnings
