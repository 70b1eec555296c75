"""Checks of one member's combination of fields, before its data is loaded (validation.py).

Each field alone has passed `validation.FIELD_RULES`; here the fields meet: an objective of the
other model, a discretised likelihood on binarised pixels, an evaluator the dataset cannot
serve (known from the dataset's name: `arrays` is only known once loaded, and
`evaluators.validate` judges the same rule on its data then), a convolution stack too deep
for the images. A member field (Hparams) that this member's model or objective does not read
is refused when it leaves its default (REFUSED); a static field it ignores gives a warning.
"""

from __future__ import annotations

import dataclasses
import functools

from vae_jax import defaults
from vae_jax.data import corruption, sprites
from vae_jax.errors import ConfigError
from vae_jax.metrics import evaluators
from vae_jax.objectives import likelihoods, losses
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
# The objectives weighted by beta (and its warm-up): every VAE bound. Those whose KL is a term
# of its own, which free bits and capacity annealing shape (objectives/kl_schedules.py): IWAE
# weighs log p(z) - log q(z|x) inside each importance weight and TCVAE splits the KL into
# three weighted terms, so neither has one KL to floor or to steer towards a capacity.
KL_OBJECTIVES = ("elbo", "iwae", "tcvae", "factor_vae", "dip_vae_i", "dip_vae_ii")
KL_TERM_OBJECTIVES = ("elbo", "factor_vae", "dip_vae_i", "dip_vae_ii")

# (fields, ignored when(member, objective), why): the member fields (Hparams, sweepable within
# one program) that a member's model or objective does not read. One of them away from its
# default is refused: the member would silently equal the one at the default.
# tests/test_fields.py measures every (field, model, objective) against this table.
REFUSED = (
    (("beta", "kl_warmup_steps", "kl_warmup_epochs"), lambda c, o: o not in KL_OBJECTIVES,
     "objective {o} of model={model} has no KL term to weigh"),
    (("free_bits", "capacity_max", "capacity_steps", "capacity_epochs"),
     lambda c, o: o not in KL_TERM_OBJECTIVES,
     "free bits and capacity shape the KL term of elbo, factor_vae and dip_vae_*; objective "
     "{o} has none of its own"),
    (("penalty_weight",), lambda c, o: o not in PENALTY_OBJECTIVES,
     f"only the {', '.join(PENALTY_OBJECTIVES)} objectives have a penalty"),
    (("sparsity_target",), lambda c, o: o != "sparse_kl", "only objective=sparse_kl uses it"),
    (("noise_level",), lambda c, o: c.corruption == "none",
     "corruption=none: set --config.corruption to train a denoising model"),
    (("tc_alpha", "tc_gamma"), lambda c, o: o != "tcvae", "only objective=tcvae uses it"),
    (("factor_vae_gamma",), lambda c, o: o != "factor_vae",
     "only objective=factor_vae uses it"),
    (("dip_lambda_od", "dip_lambda_d"), lambda c, o: o not in ("dip_vae_i", "dip_vae_ii"),
     "only objective=dip_vae_i and dip_vae_ii use it"),
    (("commitment_beta",), lambda c, o: c.model != "vq_vae", "only model=vq_vae uses it"),
)
# The same for static fields: a warning each, the run goes on.
IGNORED = (
    (("tc_estimator",), lambda c, o: o != "tcvae", "only objective=tcvae uses it"),
    (("code_activation",), lambda c, o: c.model != "ae", "only an AE's code has an activation"),
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
    objective = losses.resolve(config)
    facts = DATASET_FACTS.get(config.dataset, _UNKNOWN)
    _check_objective(config, objective)
    _check_model(config, facts)
    _check_data(config, facts)
    _check_grad_shards(config, objective)
    for name in tuple(config.evals) + tuple(config.final_evals):
        _check_evaluator(name, config, facts)
    _check_read(config, objective)
    return ignored_fields(config, objective)


def _check_objective(config, objective: str) -> None:
    choices = losses.OBJECTIVES[config.model]
    if objective not in choices:
        raise ConfigError(f"objective {objective!r} does not apply to model {config.model!r}; "
                          f"choose one of {', '.join(choices)} (--config.objective=...)")
    if objective == "sparse_kl" and config.code_activation != "sigmoid":
        raise ConfigError("objective sparse_kl penalises mean activations in (0, 1): set "
                          "--config.code_activation=sigmoid")
    if objective != "iwae" and config.iwae_samples != 1:
        raise ConfigError(f"iwae_samples={config.iwae_samples} only applies to "
                          "--config.objective=iwae")
    likelihoods.check_binarization(config)  # a discretised likelihood on binarised pixels


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
    problem = evaluators.missing_data(name, config.dataset, facts.labels, facts.factors)
    if problem:
        raise ConfigError(problem)
    where = f"evaluator {name!r} (config.evals / final_evals)"
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
        kinds = " | ".join(c for c in corruption.CORRUPTIONS if c != "none")
        raise ConfigError(f"{where} scores the corrupted test images: set --config.corruption "
                          f"({kinds}) and --config.noise_level")


@functools.cache
def _defaults() -> dict:
    return defaults.base_config().to_dict()


def _differing(config, objective: str, table) -> list[tuple[str, str]]:
    """(field, why) for each field of `table` that this member ignores and that differs from
    its default."""
    base = _defaults()
    return [(name, why.format(o=objective, model=config.model))
            for fields, ignored, why in table if ignored(config, objective)
            for name in fields if config[name] != base[name]]


def _check_read(config, objective: str) -> None:
    """Raises for the first member field set away from its default that this member's model
    or objective does not read (REFUSED)."""
    for name, why in _differing(config, objective, REFUSED):
        raise ConfigError(f"config.{name}={config[name]!r} would be ignored ({why}): drop it, "
                          f"or --config.{name}={_defaults()[name]!r}")


def ignored_fields(config, objective: str) -> dict[str, str]:
    """{field: warning} for the static fields that differ from their defaults but that this
    member ignores."""
    return {name: f"config.{name}={config[name]!r} is ignored ({why})"
            for name, why in _differing(config, objective, IGNORED)}
