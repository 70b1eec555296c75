"""No field is silently ignored: for every member field (Hparams) and every (model, objective)
pair, either the loss changes when the field leaves its default (the objective reads it), or
the validation pass refuses the combination with a one-line error naming the field.

Both sides are measured, not declared: the loss is evaluated at the same parameters, batch,
key and step with the field at its default and at another value, so a future objective that
forgets to read a field (or a new Hparams field no objective reads) fails here.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import test as test_config
from vae_jax import hparams, models, objectives, train, validation
from vae_jax.errors import ConfigError
from vae_jax.objectives import losses

IMAGE_SHAPE = (28, 28, 1)
STEP = 10  # inside every ramp below, past the first step
STEPS_PER_EPOCH = 10  # what the epoch ramps become (population.in_steps does it per dataset)
DATASET_SIZE = 1024  # the tcvae estimator's N

PAIRS = [(model, objective) for model, choices in losses.OBJECTIVES.items()
         for objective in choices]

# (field, non-default value, other fields it needs to act at all). Where a field only acts
# beside another (the pace of capacity annealing beside its target, the noise beside a
# corruption, the sparsity target beside its penalty's weight), a second row gives it that
# context; the row without it must then be refused or change the loss by itself.
CASES = [
    ("beta", 3.0, {}),
    ("kl_warmup_steps", 100.0, {}),
    ("kl_warmup_epochs", 10.0, {}),
    ("free_bits", 1e3, {}),
    ("capacity_max", 1e3, {}),
    ("capacity_steps", 100.0, dict(capacity_max=1e3)),
    ("capacity_epochs", 10.0, dict(capacity_max=1e3)),
    ("noise_level", 0.5, {}),
    ("noise_level", 0.5, dict(corruption="gaussian")),
    ("penalty_weight", 1.0, {}),
    ("sparsity_target", 0.2, dict(penalty_weight=1.0)),
    ("tc_alpha", 3.0, {}),
    ("tc_gamma", 3.0, {}),
    ("factor_vae_gamma", 40.0, {}),
    ("dip_lambda_od", 5.0, {}),
    ("dip_lambda_d", 50.0, {}),
    ("commitment_beta", 2.0, {}),
]
# Member fields no loss reads: the optimiser's step size and the initialisation's seed, read
# for every model by train.make_optimizer and the member's keys.
NOT_IN_THE_LOSS = {"learning_rate", "seed"}


def _config(model, objective, **overrides):
    config = test_config.get_config()
    config.update(dict(model=model, objective=objective, top_latents=6, top_hidden=(16,),
                       vamp_components=5, codebook_size=16, code_dim=4,
                       discriminator_hidden=(16, 16)))
    if objective == "sparse_kl":
        config.code_activation = "sigmoid"
    config.update(overrides)
    return config


def _refusal(config) -> str | None:
    try:
        validation.check(config, log_warnings=False)
    except ConfigError as e:
        return str(e)
    return None


@functools.cache
def _loss(model, objective, corruption):
    """loss(hparams) at fixed params, batch, key and step for one static program (eager: each
    evaluation is cheap, a compilation per pair would cost more)."""
    config = _config(model, objective, corruption=corruption)
    net = models.build(config, IMAGE_SHAPE)
    params = train.create_state(jax.random.key(0), net, train.make_optimizer(config),
                                IMAGE_SHAPE).params
    x = (jax.random.uniform(jax.random.key(1), (16, *IMAGE_SHAPE)) < 0.3).astype(jnp.float32)
    loss_fn = objectives.build(config, net, DATASET_SIZE)
    return lambda h: float(loss_fn(params, x, jax.random.key(2), h, STEP)[0])


def _hparams(config):
    config = config.copy_and_resolve_references()
    for epochs, steps in hparams.EPOCH_FIELDS.items():
        if config[epochs] > 0:
            config[steps] = float(config[epochs] * STEPS_PER_EPOCH)
    return hparams.from_config(config)


def test_every_member_field_is_audited():
    assert {field for field, _, _ in CASES} | NOT_IN_THE_LOSS == set(hparams.SWEEPABLE)


def _decide(model, objective, field, value, context) -> str:
    """'refused' or 'applied' for one pair, asserting that one of the two holds."""
    base = _config(model, objective, **context)
    if _refusal(base) is not None:  # the context alone is refused: its own row covers it
        return "refused"
    changed = _config(model, objective, **context, **{field: value})
    error = _refusal(changed)
    if error is not None:
        assert f"config.{field}=" in error and len(error.splitlines()) == 1, error
        return "refused"
    loss = _loss(model, objective, base.corruption)
    before, after = loss(_hparams(base)), loss(_hparams(changed))
    assert np.isfinite(before) and np.isfinite(after)
    assert before != after, (f"{field}={value} is accepted for model={model} "
                             f"objective={objective} but leaves the loss at {before}")
    return "applied"


@pytest.mark.parametrize("model,objective", PAIRS, ids=[f"{m}-{o}" for m, o in PAIRS])
def test_each_field_is_applied_or_refused(model, objective):
    decisions = {f"{field}{'+' + ','.join(context) if context else ''}":
                 _decide(model, objective, field, value, context)
                 for field, value, context in CASES}
    print(model, objective, decisions)


def test_the_audit_table():
    """The decisions that the measurement above makes, written down (docs/configuration.md
    says the same): free bits and capacity act on an ELBO's KL term (the VAE's, the
    VampPrior's and the two-layer models' sampled KL, FactorVAE's and DIP-VAE's), never on
    IWAE's weights or TCVAE's three terms."""
    shaped = {(m, o) for m, o in PAIRS if o in ("elbo", "factor_vae", "dip_vae_i", "dip_vae_ii")}
    for model, objective in PAIRS:
        for field in ("free_bits", "capacity_max"):
            decision = _decide(model, objective, field, 1e3, {})
            assert decision == ("applied" if (model, objective) in shaped else "refused"), \
                (model, objective, field)
