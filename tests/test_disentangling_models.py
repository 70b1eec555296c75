"""FactorVAE and DIP-VAE: hand-computed penalty terms, the discriminator's own gradient, and
populations over their weights equal to lone runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vae_jax
from configs import test as test_config
from vae_jax import data, models, objectives, run, train
from vae_jax.hparams import from_config
from vae_jax.metrics import evaluators
from vae_jax.objectives import disentangling
from vae_jax.train import population


def test_dip_covariance_and_penalty_by_hand():
    mean = jnp.array([[1.0, 2.0], [3.0, 0.0], [2.0, 4.0]])
    # Means of the columns: 2 and 2. Cov (divide by 3): var0 = (1+1+0)/3 = 2/3,
    # var1 = (0+4+4)/3 = 8/3, cov01 = ((-1)(0) + (1)(-2) + (0)(2))/3 = -2/3.
    expected = np.array([[2 / 3, -2 / 3], [-2 / 3, 8 / 3]])
    np.testing.assert_allclose(disentangling.batch_covariance(mean), expected, rtol=1e-6)
    logvar = jnp.log(jnp.array([[1.0, 2.0], [3.0, 4.0], [2.0, 0.0 + 6.0]]))
    # DIP-II adds the mean encoder variance to the diagonal: (1+3+2)/3 = 2, (2+4+6)/3 = 4.
    np.testing.assert_allclose(disentangling.dip_covariance(mean, logvar, "dip_vae_ii"),
                               expected + np.diag([2.0, 4.0]), rtol=1e-6)
    np.testing.assert_allclose(disentangling.dip_covariance(mean, logvar, "dip_vae_i"), expected,
                               rtol=1e-6)
    # lambda_od * 2 * (2/3)^2 + lambda_d * ((2/3 - 1)^2 + (8/3 - 1)^2)
    penalty = disentangling.dip_penalty(jnp.asarray(expected), 3.0, 0.5)
    by_hand = 3.0 * 2 * (2 / 3) ** 2 + 0.5 * ((1 / 3) ** 2 + (5 / 3) ** 2)
    np.testing.assert_allclose(penalty, by_hand, rtol=1e-6)


def test_permuted_dimensions_keep_each_latents_values_and_break_their_pairing():
    z = jnp.arange(64 * 3, dtype=jnp.float32).reshape(64, 3)
    permuted = disentangling.permute_dims(jax.random.key(0), z)
    for j in range(3):
        np.testing.assert_array_equal(np.sort(permuted[:, j]), z[:, j])
    # Independent permutations per dimension: rows are no longer whole rows of z.
    rows = {tuple(r) for r in np.asarray(z)}
    assert sum(tuple(r) in rows for r in np.asarray(permuted)) < 8


def test_discriminator_tc_and_loss_by_hand():
    logits_q = jnp.array([[2.0, 0.0], [0.0, 1.0]])
    logits_perm = jnp.array([[0.0, 3.0], [1.0, 1.0]])
    # log D / (1 - D) with D = softmax(logits)[0] is the logit difference.
    np.testing.assert_allclose(disentangling.discriminator_tc(logits_q), [2.0, -1.0])
    log_sigmoid = jax.nn.log_sigmoid
    by_hand = -0.5 * ((log_sigmoid(2.0) + log_sigmoid(-1.0)) / 2
                      + (log_sigmoid(3.0) + log_sigmoid(0.0)) / 2)
    np.testing.assert_allclose(disentangling.discriminator_loss(logits_q, logits_perm), by_hand,
                               rtol=1e-6)


def _factor_vae(data_dir):
    config = test_config.get_config()
    config.data_dir = data_dir
    config.objective = "factor_vae"
    config.discriminator_hidden = (16, 16)
    config.num_train, config.num_test, config.batch_size = 256, 128, 32
    config.figures = False
    return config


@pytest.mark.real_data
def test_factor_vae_discriminator_gradient_is_its_own_losss(data_dir):
    config = _factor_vae(data_dir)
    dataset = data.load(config)
    model = models.build(config, dataset.image_shape)
    assert isinstance(model, models.FactorVAE)
    params = train.create_state(jax.random.key(1), model, train.make_optimizer(config),
                                dataset.image_shape).params
    x = data.to_float(jnp.asarray(dataset.train_images[:32]), None)
    hparams = from_config(config)
    loss_fn = objectives.build(config, model)
    grads = jax.grad(lambda p: loss_fn(p, x, jax.random.key(2), hparams)[0])(params)

    def discriminator_only(d_params):
        _, permute_key = jax.random.split(jax.random.key(2))
        model_key = jax.random.split(jax.random.key(2))[0]
        z = model.apply({"params": params}, x, model_key)["z"]
        full = {**params, "discriminator": d_params}
        logits_q = model.apply({"params": full}, z, method="discriminate")
        logits_p = model.apply({"params": full}, disentangling.permute_dims(permute_key, z),
                               method="discriminate")
        return disentangling.discriminator_loss(logits_q, logits_p)

    expected = jax.grad(discriminator_only)(params["discriminator"])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                 grads["discriminator"], expected)
    # The VAE's parameters get no gradient from the discriminator's loss: with gamma = 0 their
    # gradient is the (factor-free) beta-ELBO's.
    no_tc = hparams.replace(factor_vae_gamma=jnp.float32(0.0))
    grads_no_tc = jax.grad(lambda p: loss_fn(p, x, jax.random.key(2), no_tc)[0])(params)
    vae_config = config.copy_and_resolve_references()
    vae_config.objective = "elbo"
    vae_loss = objectives.build(vae_config, model)
    model_key = jax.random.split(jax.random.key(2))[0]
    grads_elbo = jax.grad(lambda p: vae_loss(p, x, model_key, hparams)[0])(params)
    for name in ("encoder", "decoder", "mean", "logvar"):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                     grads_no_tc[name], grads_elbo[name])


@pytest.mark.real_data
@pytest.mark.parametrize("objective,field,values", [
    ("factor_vae", "factor_vae_gamma", (0.0, 20.0)),
    ("dip_vae_ii", "dip_lambda_od", (1.0, 50.0)),
])
def test_a_sweep_of_their_weights_equals_lone_runs(data_dir, objective, field, values):
    config = _factor_vae(data_dir)
    config.objective = objective
    config.sweep[field] = values
    dataset = data.load(config)
    members = population.member_configs(config)
    setup = run.Setup(config, dataset)
    epoch_fn = jax.jit(train.make_train_epoch(
        setup.loss_fn, setup.tx, setup.schedule, batch_size=config.batch_size,
        dynamic_binarization=True, member_map=setup.member_map))
    images = jax.device_put(dataset.train_images)

    def trained(configs):
        pop = population.Population("p", tuple(configs))
        states, keys, hparams, _ = run.init_population(setup, pop, dataset)
        states, metrics = epoch_fn(states, images, 0, jax.random.key(0), keys.train, hparams)
        return states, metrics

    together, metrics = trained(members)
    assert not np.allclose(metrics["loss"][0], metrics["loss"][1])  # the weight acts
    for i in range(2):
        alone, _ = trained([members[i]])
        jax.tree.map(np.testing.assert_array_equal, train.member(together, i),
                     train.member(alone, 0))


@pytest.mark.real_data
@pytest.mark.parametrize("objective", ["factor_vae", "dip_vae_i"])
def test_train_and_evaluate_smoke(data_dir, tmp_path, objective):
    config = _factor_vae(data_dir)
    config.objective = objective
    config.final_evals = ("nll",)
    config.nll_samples = 8
    (record,) = run.train_and_evaluate(config, str(tmp_path))["main"]
    assert np.isfinite(record["eval/nelbo"]) and np.isfinite(record["eval/nll"])
    # The run's own evaluation program on the restored member, with k importance samples.
    dataset = data.load(config)
    member = vae_jax.load_run(str(tmp_path)).member(0)
    params = jax.tree.map(lambda a: a[None], member.params)  # a population of one
    keys = population.split(config)[0].keys()
    images = jnp.asarray(dataset.test_images)
    member_hparams = train.stack_members([from_config(config)])
    epoch_keys = evaluators.keys_for_epoch(keys.eval, config.num_epochs)

    def scores(params, num_samples):
        config.nll_samples = num_samples
        eval_fn = evaluators.make_jitted_eval(run.Setup(config, dataset), ("elbo", "nll"))
        return jax.device_get(jax.jit(eval_fn)(params, jax.random.clone(epoch_keys),
                                               member_hparams, images))

    def mean_gap(params, num_samples):
        """The mean of nll - nelbo over the N test images and its standard error."""
        out = scores(params, num_samples)
        gap = out["nll"][0] - out["nelbo"][0]
        return gap.mean(), gap.std(ddof=1) / np.sqrt(len(gap))

    # A known answer: with every parameter 0, q(z|x) = N(0, I) = p(z) and the decoder's logits
    # are 0, so every importance weight is p(x | z) = 2^-784 whatever x and z: -log p(x), the
    # k = 8 bound and the -ELBO all equal 784 ln 2, and the KL is 0 (float32 round-off).
    known = scores(jax.tree.map(jnp.zeros_like, params), 8)
    np.testing.assert_allclose(known["nll"], 784 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(known["nelbo"], 784 * np.log(2), rtol=1e-6)
    np.testing.assert_allclose(known["kl"], 0, atol=1e-6)
    # The trained member. With k = 1 the importance-sampled bound is the ELBO sampled another
    # way (log w = log p(x, z) - log q(z | x) for one z ~ q): the mean of the per-image
    # differences is 0 up to Monte-Carlo error, four of its standard errors (a 6e-5 chance
    # of failing for a correct evaluator).
    gap, standard_error = mean_gap(params, 1)
    assert abs(gap) <= 4 * standard_error
    # With k = 8 the bound is tighter: E[nll] <= E[-ELBO] for every image. The logged means are
    # Monte-Carlo estimates, so their gap may exceed 0 by noise, by at most four standard errors
    # (the spread across images bounds the Monte-Carlo spread from above).
    _, standard_error = mean_gap(params, 8)
    assert record["eval/nll"] - record["eval/nelbo"] <= 4 * standard_error
