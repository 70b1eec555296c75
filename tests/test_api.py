"""vae_jax.load_run: one member of a finished run, read alone, used and evaluated."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import vae_jax
from tests.conftest import DATA_DIR
from vae_jax import checkpoints, data, run, streams, train
from vae_jax.errors import CheckpointError, ConfigError, DataError
from vae_jax.train import population as population_lib

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """configs/test.py as a sweep of two seeds, trained for its two epochs."""
    from configs import test as test_config

    config = test_config.get_config()
    config.data_dir, config.figures = DATA_DIR, False
    config.sweep.seed = (0, 1)
    path = str(tmp_path_factory.mktemp("api_run"))
    run.train_and_evaluate(config, path)
    return path


@pytest.fixture(scope="module")
def finished(workdir):
    return vae_jax.load_run(workdir)


def test_a_member_is_its_slice_of_the_saved_population_bitwise(tmp_path):
    """A known answer: a population of three initial states saved by hand at epoch 5 (no
    training); member i reads back slice i of each stacked array, bit for bit."""
    from configs import test as test_config

    config = test_config.get_config()
    config.data_dir, config.figures = DATA_DIR, False
    config.sweep.seed = (0, 1, 2)
    config = run.resolve(config)
    checkpoints.check_or_write_config(str(tmp_path), config, write=True)
    population, = population_lib.split(config)
    dataset = data.load(config)
    states, _, _, _ = run.init_population(run.Setup(population.static_config, dataset),
                                          population, dataset)
    checkpointer = checkpoints.Checkpointer(str(tmp_path / "checkpoints" / "main"))
    checkpointer.save(5, states)
    checkpointer.close()
    loaded = vae_jax.load_run(str(tmp_path))
    for index in (2, 0):
        member = loaded.member(index)
        expected = jax.tree.leaves(train.member(states.params, index))
        got = jax.tree.leaves(member.params)
        assert len(got) == len(expected) and member.epoch == 5
        assert all(a.dtype == b.dtype and np.array_equal(a, b)
                   for a, b in zip(got, expected, strict=True))
    # The seeds initialised different parameters: the slice is the right one.
    assert not np.array_equal(loaded.member(1).params["mean"]["kernel"],
                              loaded.member(2).params["mean"]["kernel"])


def test_a_member_of_a_trained_run_has_its_config_and_last_epoch(finished):
    assert finished.num_members == 2 and list(finished.populations) == ["main"]
    for index in (0, 1):
        member = finished.member(index)
        assert member.config.seed == index and member.epoch == 2
        assert float(member.hparams.beta) == 1.0
    # The two seeds trained different parameters: the slice is the right one.
    first, second = finished.member(0).params, finished.member(1).params
    assert not np.array_equal(first["decoder"]["output"]["kernel"],
                              second["decoder"]["output"]["kernel"])


def test_checkpoints_keep_one_chunk_per_member(workdir):
    """What lets Checkpointer.restore_member read one member's bytes (vae_jax.load_run's
    members): the member axis is chunked by 1."""
    with open(f"{workdir}/checkpoints/main/2/default/array_metadatas/process_0") as f:
        arrays = [a["array_metadata"] for a in json.load(f)["array_metadatas"]]
    params = [a for a in arrays if a["param_name"].startswith("params.")]
    assert params and all(a["write_shape"][0] == 2 and a["chunk_shape"][0] == 1
                          for a in params)


def test_restore_member_reads_checkpoints_saved_as_whole_arrays(tmp_path):
    """Checkpoints written before the per-member chunks (one chunk per array) still load."""
    stacked = {"w": jnp.arange(24.0).reshape(4, 3, 2), "b": jnp.arange(4, dtype=jnp.int32)}
    manager = ocp.CheckpointManager(str(tmp_path))
    manager.save(1, args=ocp.args.StandardSave({"params": stacked}))
    manager.wait_until_finished()
    manager.close()
    like = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), stacked)
    got = checkpoints.Checkpointer(str(tmp_path)).restore_member(1, 2, like)
    assert np.array_equal(got["w"], stacked["w"][2]) and int(got["b"]) == 2
    with pytest.raises(CheckpointError, match="member 4"):
        checkpoints.Checkpointer(str(tmp_path)).restore_member(1, 4, like)


def test_encode_decode_reconstruct_are_the_models_functions(finished):
    member = finished.member(1)
    images = finished.dataset.test_images[:200]  # more than eval_batch_size: two chunks
    x = images.astype(np.float32) / 255
    mean, _ = member.model.apply({"params": member.params}, x, method="encode")
    codes = member.encode(images)
    assert codes.shape == (200, 4)
    np.testing.assert_allclose(codes, mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(member.encode(x), codes)  # floats in [0, 1] too
    logits = member.model.apply({"params": member.params}, jnp.asarray(codes), method="decode")
    pixels = member.decode(codes)
    assert pixels.shape == (200, 28, 28, 1)
    np.testing.assert_allclose(pixels, jax.nn.sigmoid(logits), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(member.reconstruct(images), pixels)


def test_samples_are_prior_draws_decoded_and_fixed_by_the_seed(finished):
    member = finished.member(0)
    first = member.sample(6, seed=3)
    np.testing.assert_array_equal(member.sample(6, seed=3), first)
    assert not np.array_equal(member.sample(6, seed=4), first)
    z = jax.random.normal(streams.api_sample_key(3), (6, 4))  # its own tagged root
    np.testing.assert_array_equal(member.decode(np.asarray(z)), first)


def test_evaluate_reproduces_the_logged_final_evaluation(finished):
    for index in (0, 1):
        member = finished.member(index)
        last = member.metrics()[-1]
        assert last["epoch"] == 2 and last["member"] == index
        got = member.evaluate("elbo")
        for name in ("recon", "kl", "nelbo"):
            assert got[name] == pytest.approx(last[f"eval/{name}"], rel=1e-6), (index, name)
    # On given images: their own mean, not the test set's. A known answer: blank images
    # binarise to 0 under any key, and their KL is closed form from the encoder's posterior,
    # 0.5 sum(mean^2 + exp(logvar) - 1 - logvar), here in float64.
    blank = np.zeros((64, *finished.dataset.image_shape), np.uint8)
    on_blank = member.evaluate("elbo", images=blank)
    mean, logvar = (np.asarray(a, np.float64) for a in member.model.apply(
        {"params": member.params}, jnp.zeros(blank.shape), method="encode"))
    kl = 0.5 * (mean**2 + np.exp(logvar) - 1 - logvar).sum(axis=-1)
    assert on_blank["kl"] == pytest.approx(kl.mean(), rel=1e-5)
    assert on_blank["nelbo"] == pytest.approx(on_blank["recon"] + on_blank["kl"], rel=1e-6)


def test_evaluate_reproduces_the_logged_probes_under_dynamic_binarization(tmp_path):
    """The run fits the probes on binarised training images (evaluators.probe_train_images);
    the API must fit on the same, not on the grey images, and give the logged values exactly."""
    from configs import test as test_config

    config = test_config.get_config()
    config.data_dir, config.figures, config.num_epochs = DATA_DIR, False, 1
    config.num_train, config.num_test, config.probe_train_size = 512, 256, 512
    config.evals = ("elbo", "linear_probe", "knn")
    assert config.binarization == "dynamic"
    run.train_and_evaluate(config, str(tmp_path))
    member = vae_jax.load_run(str(tmp_path)).member(0)
    logged = member.metrics()[-1]
    for name in ("linear_probe", "knn"):
        assert member.evaluate(name)[name] == logged[f"eval/{name}"], name


def test_bad_requests_name_the_problem(finished, tmp_path):
    with pytest.raises(ConfigError, match="members 0..1, not 2"):
        finished.member(2)
    with pytest.raises(ConfigError, match="no population 'vae'"):
        finished.member(0, population="vae")
    member = finished.member(0)
    with pytest.raises(DataError, match=r"\[N, 28, 28, 1\]"):
        member.encode(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        member.encode(np.full((2, 28, 28, 1), 255.0, np.float32))
    with pytest.raises(DataError, match=r"\[N, 4\]"):
        member.decode(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match="not a config field"):
        member.evaluate("elbo", nll_sample=3)
    with pytest.raises(ConfigError, match="unknown evals 'elbow'"):  # the validation pass
        member.evaluate("elbow")
    with pytest.raises(ConfigError, match="codebook.*needs model=vq_vae"):
        member.evaluate("codebook")
    with pytest.raises(CheckpointError, match="config.json does not exist"):
        vae_jax.load_run(str(tmp_path))
