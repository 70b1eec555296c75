"""The objective and prior registries are the one source of their names and choices: the
validation pass, the config reference and the losses all read them, every registered objective
builds a loss, and every model class has a prior without naming a kind anywhere."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import test as test_config
from vae_jax import config_docs, hparams, models, validation, validation_members
from vae_jax.errors import ConfigError
from vae_jax.models import autoencoders
from vae_jax.objectives import disentangling, hierarchical, losses, priors
from vae_jax.train import grad_shards

SHAPE = (4, 4, 1)
PAIRS = [(model, objective) for model, choices in losses.OBJECTIVES.items()
         for objective in choices]


def _config(model, objective="default"):
    config = test_config.get_config()
    config.update(dict(model=model, objective=objective, hidden=(8,), latents=2,
                       top_hidden=(4,), top_latents=2, vamp_components=3, codebook_size=4,
                       code_dim=2, discriminator_hidden=(4,)))
    if objective == "sparse_kl":
        config.code_activation = "sigmoid"
    return config


def test_validation_and_the_reference_read_the_objective_registry():
    assert validation.FIELD_RULES["objective"].choices == ("default",) + losses.names()
    assert set(losses.names()) == {o for _, o in PAIRS}
    assert len(losses.names()) == len(set(losses.names()))  # each name once
    row = next(line for line in config_docs.generate().splitlines()
               if line.startswith("| `objective` |"))
    assert losses.describe() in row
    # The objective tables of the validation pass name registered objectives only.
    for table in (validation_members.KL_OBJECTIVES, validation_members.KL_TERM_OBJECTIVES,
                  validation_members.PENALTY_OBJECTIVES, grad_shards.BATCH_OBJECTIVES,
                  disentangling.DIP_KINDS):
        assert set(table) <= set(losses.names()), table


def test_every_model_has_objectives_and_its_default_is_the_first_registered():
    assert set(losses.OBJECTIVES) == set(autoencoders.MODELS)
    assert losses.resolve(_config("vae")) == "elbo"
    assert losses.resolve(_config("ae")) == "recon"
    assert losses.resolve(_config("vq_vae")) == "vq"


def test_an_objective_of_another_model_is_refused_with_the_registered_choices():
    with pytest.raises(ConfigError, match="choose one of elbo, iwae "):
        validation.check(_config("vamp_vae", "sparse_l1"), log_warnings=False)
    with pytest.raises(ConfigError, match="unknown objective 'elbow'.*choose one of default, "
                                          + ", ".join(losses.names())):
        validation.check_value("objective", "elbow")
    with pytest.raises(ValueError, match="registered twice"):
        losses.register("elbo", models=("vae",))(lambda *args: None)


@pytest.mark.parametrize("model_name,objective", PAIRS)
def test_every_registered_objective_builds_a_finite_loss(model_name, objective):
    config = _config(model_name, objective)
    net = models.build(config, SHAPE)
    x = (jax.random.uniform(jax.random.key(0), (6, *SHAPE)) > 0.5).astype(jnp.float32)
    params = net.init(jax.random.key(1), x, jax.random.key(2))["params"]
    loss, metrics = losses.build(config, net, dataset_size=100)(
        params, x, jax.random.key(3), hparams.from_config(config))
    assert loss.shape == () and np.isfinite(loss)
    np.testing.assert_array_equal(metrics["loss"], loss)


@pytest.mark.parametrize("model_name,prior_cls", [
    ("ae", priors.StandardNormal), ("vae", priors.StandardNormal),
    ("vamp_vae", priors.VampPrior), ("two_layer_vae", hierarchical.TwoLayerPrior),
    ("ladder_vae", hierarchical.TwoLayerPrior), ("vq_vae", priors.NoPrior)])
def test_every_model_class_finds_its_prior(model_name, prior_cls):
    net = models.build(_config(model_name), SHAPE)
    assert type(priors.of(net)) is prior_cls
    assert set(priors.PRIORS.values()) <= {priors.StandardNormal, priors.VampPrior,
                                           priors.NoPrior, hierarchical.TwoLayerPrior}


def test_a_model_class_inherits_its_prior_and_an_unknown_one_is_refused():
    factor_vae = models.build(_config("vae", "factor_vae"), SHAPE)
    assert type(priors.of(factor_vae)) is priors.StandardNormal  # a VAE subclass

    class NoLatents(nn.Module):
        def __call__(self, x):
            return x

    with pytest.raises(ConfigError, match="has no prior: register"):
        priors.of(NoLatents())
