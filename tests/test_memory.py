"""The memory check sizes what the loss really computes: IWAE's k samples, the contractive
penalty's Jacobian rows, the population's members; a config over the limit is refused."""

import os

import jax
import jax.numpy as jnp
import pytest

from configs import test as test_config
from tests.conftest import DATA_DIR
from vae_jax import data, run, train
from vae_jax import hparams as hparams_lib
from vae_jax.errors import PopulationTooLargeError
from vae_jax.train import memory


def test_peak_bytes_counts_what_is_live_at_once():
    # exp(x) [1000] and 2 * exp(x) are live together (8 kB); the sum adds 4 bytes after
    # exp(x) is freed; the input is not counted.
    jaxpr = jax.make_jaxpr(lambda x: jnp.sum(2.0 * jnp.exp(x)))(jnp.zeros(1000)).jaxpr
    assert memory.peak_bytes(jaxpr) == 8000
    # A called jaxpr's own peak adds to what is live when it runs.
    inner = jax.jit(lambda y: jnp.sum(jnp.exp(y) * jnp.cos(y)))
    jaxpr = jax.make_jaxpr(lambda x: jnp.sin(x) + inner(x))(jnp.zeros(1000)).jaxpr
    # sin(x) waits while the inner exp, cos and their product (12 kB) make its 4-byte sum.
    assert memory.peak_bytes(jaxpr) == 4000 + 12000 + 4


def _estimate(**overrides):
    config = test_config.get_config()
    config.data_dir = DATA_DIR
    config.num_train, config.num_test = 256, 64
    for name, value in overrides.items():
        config[name] = value
    dataset = data.load(config)
    setup = run.Setup(config, dataset)
    return setup, dataset, memory.estimate_member_bytes(
        setup.loss_fn, setup.model, setup.tx, dataset.image_shape, config.batch_size,
        hparams_lib.from_config(config))


@pytest.mark.real_data
def test_the_estimate_counts_iwae_samples_and_jacobian_rows_and_bounds_the_compiled_step():
    _, _, elbo = _estimate(objective="elbo")
    setup, dataset, iwae = _estimate(objective="iwae", iwae_samples=50)
    # Every decoded sample is held for the backward pass: ~k times the decoder's activations.
    assert iwae > 10 * elbo
    _, _, ae = _estimate(model="ae", latents=64)
    _, _, contractive = _estimate(model="ae", objective="contractive", latents=64)
    assert contractive > 5 * ae  # 64 Jacobian rows per example
    # What XLA allocates for one member's gradient step stays under the estimate.
    config = setup.config
    state = jax.eval_shape(lambda k: train.create_state(
        k, setup.model, setup.tx, dataset.image_shape), jax.random.key(0))
    x = jax.ShapeDtypeStruct((config.batch_size, *dataset.image_shape), jnp.float32)
    hparams = hparams_lib.from_config(config)
    compiled = jax.jit(jax.grad(lambda p, x, k: setup.loss_fn(p, x, k, hparams)[0])).lower(
        state.params, x, jax.random.key(1)).compile().memory_analysis()
    assert compiled.temp_size_in_bytes + compiled.output_size_in_bytes < (
        iwae - 2 * memory._nbytes(state))


@pytest.mark.real_data
@pytest.mark.parametrize("overrides,members", [
    (dict(objective="iwae", iwae_samples=2000), 1),           # ~4 GiB of decoded samples
    (dict(model="ae", objective="contractive", latents=512), 1),  # 512 Jacobian rows
    (dict(), 64),                                             # 64 members of ~5 MiB
])
def test_a_config_over_the_memory_limit_is_refused_before_training(tmp_path, overrides,
                                                                    members):
    config = test_config.get_config()
    config.data_dir, config.figures, config.num_epochs = DATA_DIR, False, 1
    config.num_train, config.num_test = 256, 64
    config.memory_limit_gb = 0.1  # a forward pass of one member: ~5 MiB
    for name, value in overrides.items():
        config[name] = value
    config.sweep.seed = tuple(range(members))
    with pytest.raises(PopulationTooLargeError, match=f"{members} members need about"):
        run.train_and_evaluate(config, str(tmp_path))
    assert not os.path.exists(tmp_path / "checkpoints")
