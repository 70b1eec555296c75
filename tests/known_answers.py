"""Helpers the objective tests share: a tiny model on 4x4 binary images, the numpy
reference densities the losses are checked against (float64, one formula each), and the tiny
run with the likelihood evaluator in which the models with a learned prior train as a
population and alone."""

import jax
import jax.numpy as jnp
import numpy as np

from configs import test as test_config
from vae_jax import models, run
from vae_jax.report import logs

SHAPE = (4, 4, 1)


def small_model(config, fields: dict):
    """(config with `fields` set, model, its params, 6 binary images of SHAPE)."""
    for name, value in fields.items():
        config[name] = value
    net = models.build(config, SHAPE)
    x = (jax.random.uniform(jax.random.key(0), (6, *SHAPE)) > 0.5).astype(jnp.float32)
    params = net.init(jax.random.key(1), x, jax.random.key(2))["params"]
    return config, net, params, x


def bernoulli_nll(x, logits):
    """-log p(x | logits) per example, summed over every other axis."""
    x, logits = np.asarray(x, np.float64), np.asarray(logits, np.float64)
    return -np.sum(x * logits - np.logaddexp(0, logits), axis=tuple(range(1, x.ndim)))


def log_normal(z, mean, logvar):
    """log N(z; mean, exp(logvar)) summed over the last axis."""
    return -0.5 * np.sum(np.log(2 * np.pi) + logvar + (z - mean) ** 2 / np.exp(logvar), axis=-1)


def likelihood_run_config(data_dir: str, **fields):
    """configs/test.py cut to one epoch on 256 MNIST images, evaluated with `elbo`,
    `active_units` and a 20-sample `nll`, in one member at a time (`map`: bitwise as alone)."""
    config = test_config.get_config()
    config.data_dir = data_dir
    config.num_train, config.num_test, config.batch_size = 256, 64, 32
    config.num_epochs, config.member_map = 1, "map"
    config.evals, config.final_evals = ("elbo", "active_units"), ("nll",)
    config.nll_samples, config.nll_chunk, config.nll_batch_size = 20, 10, 32
    for name, value in fields.items():
        config[name] = value
    return config


def member_and_lone_run(config, workdir, field: str, values: tuple, value):
    """Trains `config` as a population over `field` = `values` (in workdir/sweep, no figures)
    and alone at `value` (workdir/alone, with figures): -> (the records of the member at
    `value`, the lone run's records)."""
    sweep = config.copy_and_resolve_references()
    sweep.figures = False
    sweep.sweep[field] = values
    run.train_and_evaluate(sweep, str(workdir / "sweep"))
    alone = config.copy_and_resolve_references()
    alone[field] = value
    run.train_and_evaluate(alone, str(workdir / "alone"))
    swept = [r for r in logs.read_metrics(str(workdir / "sweep"))
             if r["hparams"][field] == value]
    return swept, logs.read_metrics(str(workdir / "alone"))
