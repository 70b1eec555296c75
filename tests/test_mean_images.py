"""Every consumer that turns decoder outputs into pixels reads the likelihood's own mean image:
each likelihood x each consumer (decode, sample, reconstruct, figures, denoising PSNR, codebook)
gives images of the data's shape in [0, 1]; the mean and sample functions agree with the
likelihood they belong to."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vae_jax
from configs import test as test_config
from tests.conftest import DATA_DIR
from vae_jax import objectives, run
from vae_jax.data import corruption
from vae_jax.metrics import per_example
from vae_jax.objectives import discretized
from vae_jax.report import member_figures, plots

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned", "discretized_logistic",
               "discretized_logistic_mixture")
SHAPE = (28, 28, 1)


def _in_unit_range(images, count):
    images = np.asarray(images)
    assert images.shape == (count, *SHAPE), images.shape
    assert np.all(np.isfinite(images)) and images.min() >= 0.0 and images.max() <= 1.0


# ------------------------------------------------------------------ the functions themselves
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("channels", [1, 3])
def test_mean_of_many_draws_is_the_mean_image(likelihood, channels):
    outputs = objectives.likelihood_channels(likelihood, channels, 3)
    logits = 2.0 * jax.random.normal(jax.random.key(0), (1, 2, 2, outputs))
    if likelihood == "discretized_logistic_mixture" and channels > 1:
        # Coupled channels' mean is exact without coupling (3 components x 3 pairs last); with
        # it, a plug-in (discretized.mixture_mean_image).
        logits = logits.at[..., -9:].set(0.0)
    mean = objectives.make_mean_image(likelihood, channels, 3)(logits)
    draws = objectives.make_sample_image(likelihood, 0.1, channels, 3)(
        jax.random.key(1), jnp.broadcast_to(logits, (20000, 2, 2, outputs)),
        jnp.zeros((2, 2, channels)))
    assert mean.shape == (1, 2, 2, channels) and draws.shape == (20000, 2, 2, channels)
    assert float(draws.min()) >= 0 and float(draws.max()) <= 1
    # 20,000 draws of a pixel in [0, 1]: standard error <= 0.0035. A Gaussian's draws are
    # clipped to [0, 1], which moves their mean near 0 and 1: its mean is the sigmoid (below).
    if likelihood not in ("gaussian", "gaussian_learned"):
        np.testing.assert_allclose(draws.mean(axis=0), mean[0], atol=0.02)


def test_bernoulli_mean_is_the_sigmoid_bitwise():
    logits = jax.random.normal(jax.random.key(0), (5, 28, 28, 1)) * 4
    for likelihood in ("bernoulli", "gaussian", "gaussian_learned"):
        np.testing.assert_array_equal(objectives.make_mean_image(likelihood, 1)(logits),
                                      jax.nn.sigmoid(logits))


def test_discretized_mean_is_the_expectation_of_the_likelihoods_own_bins():
    """Known answer: sum_k k/255 P(k) with P from the likelihood's logistic_logpmf."""
    means = jnp.array([-1.3, -0.99, -0.2, 0.0, 0.5, 1.0, 1.4])
    for log_scale in (-7.0, -3.0, -1.0, 0.5):
        p = jnp.exp(discretized.logistic_logpmf(jnp.arange(256)[:, None], means, log_scale))
        expected = jnp.sum(jnp.arange(256)[:, None] / 255.0 * p, axis=0)
        outputs = jnp.stack([means, jnp.full_like(means, log_scale)], axis=-1)
        np.testing.assert_allclose(discretized.logistic_mean_image(outputs, 1)[:, 0], expected,
                                   atol=2e-6)
        # A mixture of one component is the same logistic.
        mixture = jnp.stack([jnp.zeros_like(means), means, jnp.full_like(means, log_scale)], -1)
        np.testing.assert_allclose(discretized.mixture_mean_image(mixture, 1, 1)[:, 0],
                                   expected, atol=2e-6)


# ---------------------------------------------------------- every consumer, every likelihood
def _config(model: str, evals):
    config = test_config.get_config()
    config.data_dir, config.model, config.evals = DATA_DIR, model, evals
    config.num_train, config.num_test, config.num_epochs = 128, 64, 1
    config.binarization = "none"  # what the discretised likelihoods model
    config.num_mixtures = 3
    config.sweep.likelihood = LIKELIHOODS  # one population each
    return config


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A VAE per likelihood, trained one epoch as denoising models; the figures' images kept."""
    config = _config("vae", ("elbo", "denoising"))
    config.corruption, config.noise_level, config.figures = "gaussian", 0.3, True
    workdir = str(tmp_path_factory.mktemp("mean_images_vae"))
    shown = {}

    def keep(name, position):
        def plot(*args, **kwargs):
            path = args[position + 1] if name != "manifold" else args[2]
            shown.setdefault(path.split("/figures/")[1].split("/")[0], []).append(
                (name, np.asarray(args[position])))
            return path
        return plot

    with pytest.MonkeyPatch.context() as patch:  # no matplotlib: the arrays are what counts
        for name, position in (("reconstructions", 1), ("image_grid", 0), ("traversals", 0),
                               ("manifold", 0)):
            patch.setattr(plots, name, keep(name, position))
        patch.setattr(member_figures, "write_curves", lambda *args: None)
        run.train_and_evaluate(config, workdir)
    return vae_jax.load_run(workdir), shown


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory):
    config = _config("vq_vae", ("elbo", "codebook"))
    config.codebook_size, config.code_dim, config.figures = 16, 4, False
    workdir = str(tmp_path_factory.mktemp("mean_images_vq"))
    run.train_and_evaluate(config, workdir)
    return vae_jax.load_run(workdir)


@pytest.mark.real_data
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_decode_sample_reconstruct_give_images(vae_run, likelihood):
    member = vae_run[0].member(0, f"likelihood-{likelihood}")
    _in_unit_range(member.decode(np.random.default_rng(0).normal(size=(5, 4))), 5)
    _in_unit_range(member.sample(6, seed=1), 6)
    drawn = member.sample(6, seed=1, pixels="sample")
    _in_unit_range(drawn, 6)
    if likelihood == "bernoulli":
        assert set(np.unique(drawn)) <= {0.0, 1.0}
    if likelihood in objectives.DISCRETIZED:  # pixel values k / 255
        np.testing.assert_allclose(drawn * 255, np.round(drawn * 255), atol=1e-4)
    _in_unit_range(member.reconstruct(vae_run[0].dataset.test_images[:7]), 7)


@pytest.mark.real_data
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_figures_show_images(vae_run, likelihood):
    shown = vae_run[1][f"likelihood-{likelihood}"]
    assert {name for name, _ in shown} >= {"reconstructions", "image_grid", "traversals"}
    for name, images in shown:
        assert images.shape[-3:] == SHAPE, name
        assert images.min() >= 0 and images.max() <= 1, name


@pytest.mark.real_data
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_denoising_psnr_compares_the_mean_image(vae_run, likelihood):
    finished, _ = vae_run
    member = finished.member(0, f"likelihood-{likelihood}")
    x = finished.dataset.test_images[:16].astype(np.float32) / 255
    key = jax.random.key(3)
    noisy = corruption.corrupt(key, jnp.asarray(x), "gaussian", 0.3)
    denoised = per_example.denoise(member.model, member.params, noisy, member._setup.mean_image)
    _in_unit_range(denoised, 16)
    psnr = per_example.make_denoising_psnr(member.model, "gaussian", 0.3,
                                           member._setup.mean_image)
    scores = psnr(member.params, jnp.asarray(x), jax.random.key(3))
    # The PSNR of the API's reconstruction of the same noisy images: one mean image for both.
    reconstructed = member.reconstruct(np.asarray(noisy))
    expected = -10 * np.log10(np.mean((x - reconstructed) ** 2, axis=(1, 2, 3)))
    np.testing.assert_allclose(scores["psnr_denoised"], expected, rtol=1e-5)
    assert np.isfinite(member.metrics()[-1]["eval/psnr_denoised"])


@pytest.mark.real_data
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_codebook_mse_is_the_reconstructions(vq_run, likelihood):
    member = vq_run.member(0, f"likelihood-{likelihood}")
    images = vq_run.dataset.test_images
    reconstructed = member.reconstruct(images)
    _in_unit_range(reconstructed, len(images))
    x = images.astype(np.float32) / 255
    logged = member.metrics()[-1]["eval/mse"]
    assert logged == pytest.approx(float(np.mean((reconstructed - x) ** 2)), rel=1e-5)
