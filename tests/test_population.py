import json
import os
import subprocess
import sys
import textwrap

import chex
import jax
import numpy as np
import pytest

from configs import test as test_config
from tests.conftest import REPO
from vae_jax import data, run, train, validation
from vae_jax.errors import ConfigError, NonFiniteLossError, PopulationTooLargeError
from vae_jax.report import logs
from vae_jax.train import population

pytestmark = pytest.mark.real_data


def small(data_dir, **overrides):
    config = test_config.get_config()
    config.data_dir = data_dir
    config.num_train, config.num_test = 256, 128
    config.batch_size = 32
    config.figures = False
    for k, v in overrides.items():
        config[k] = v
    return config


def trained(config, dataset, members, epochs=2):
    """Final states and per-epoch metrics of `members` trained as one population."""
    pop = population.Population("p", tuple(members))
    setup = run.Setup(config, dataset)
    states, keys, hparams, _ = run.init_population(setup, pop, dataset)
    epoch_fn = jax.jit(train.make_train_epoch(
        setup.loss_fn, setup.tx, setup.schedule, batch_size=config.batch_size,
        dynamic_binarization=True, member_map=setup.member_map))
    images, history = jax.device_put(dataset.train_images), []
    for epoch in range(epochs):
        states, metrics = epoch_fn(states, images, epoch, jax.random.key(0), keys.train, hparams)
        history.append(metrics)
    return states, history


def members_of(config, betas, seeds, learning_rates=(1e-3,)):
    config = config.copy_and_resolve_references()
    config.sweep.beta, config.sweep.seed = tuple(betas), tuple(seeds)
    config.sweep.learning_rate = tuple(learning_rates)
    return population.member_configs(config)


@pytest.mark.parametrize("architecture,member_map,exact", [
    ("mlp", "map", True), ("conv", "map", True), ("mlp", "unrolled", True),
    ("mlp", "vmap", False), ("conv", "vmap", False)])
def test_member_i_equals_the_same_config_trained_alone(data_dir, architecture, member_map, exact):
    config = small(data_dir, architecture=architecture, member_map=member_map)
    dataset = data.load(config)
    members = members_of(config, betas=(0.5, 4.0), seeds=(3, 7), learning_rates=(1e-3, 3e-3))
    together, history = trained(config, dataset, members)
    assert len(members) == 8
    for i in (0, 5, 7):
        alone, alone_history = trained(config, dataset, [members[i]])
        mine = train.member(together, i)
        if exact:  # map / unrolled run each member's own arithmetic: bitwise equal
            jax.tree.map(np.testing.assert_array_equal, mine, train.member(alone, 0))
        else:  # batched matmuls sum in another order: float32 round-off after 16 Adam steps
            jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5),
                         mine, train.member(alone, 0))
        for together_m, alone_m in zip(history, alone_history, strict=True):
            np.testing.assert_allclose(together_m["loss"][i], alone_m["loss"][0],
                                       rtol=0 if exact else 1e-5)


def test_unrolled_chunks_equal_lone_runs_and_a_lone_run_is_the_same_under_every_map(data_dir):
    # 10 members: two groups of 5 unrolled members. A lone run (a group of one) is stepped the
    # same way by 'unrolled' and 'map', so all of them equal the plain lone run bitwise.
    config = small(data_dir, member_map="unrolled")
    dataset = data.load(config)
    members = members_of(config, betas=(0.5, 1.0, 2.0, 4.0, 8.0), seeds=(3, 7))
    together, history = trained(config, dataset, members)
    for i in (0, 4, 5, 9):  # both ends of both groups
        alone, alone_history = trained(config, dataset, [members[i]])
        mapped_alone, _ = trained(small(data_dir, member_map="map"), dataset, [members[i]])
        for other in (alone, mapped_alone):
            jax.tree.map(np.testing.assert_array_equal, train.member(together, i),
                         train.member(other, 0))
        for together_m, alone_m in zip(history, alone_history, strict=True):
            jax.tree.map(lambda a, b, i=i: np.testing.assert_array_equal(a[i], b[0]),
                         together_m, alone_m)


def test_chunk_sizes():
    assert [train.chunk_size(n) for n in (1, 7, 8, 12, 13, 32)] == [1, 7, 8, 6, 1, 8]


def test_adding_members_does_not_retrace(data_dir):
    config = small(data_dir)
    dataset = data.load(config)
    setup = run.Setup(config, dataset)
    epoch = jax.jit(chex.assert_max_traces(train.make_train_epoch(
        setup.loss_fn, setup.tx, setup.schedule, batch_size=32, dynamic_binarization=True,
        member_map="map"), n=1))
    pop = population.Population("p", tuple(members_of(config, betas=(1, 2, 4, 8), seeds=(0,))))
    states, keys, hparams, _ = run.init_population(setup, pop, dataset)
    images = jax.device_put(dataset.train_images)
    for e in range(3):
        states, _ = epoch(states, images, e, jax.random.key(0), keys.train, hparams)


def test_sweep_compiles_one_program_per_static_signature(data_dir, tmp_path, monkeypatch):
    traced = []
    original = train.make_train_epoch

    def counting(*args, **kwargs):
        fn = original(*args, **kwargs)

        def wrapped(*a):
            traced.append(jax.tree.leaves(a[4])[0].shape[0])  # members in this trace
            return fn(*a)
        return wrapped

    monkeypatch.setattr(train, "make_train_epoch", counting)
    config = small(data_dir, num_epochs=2)
    # A field both models read (an AE would refuse a beta it ignores).
    config.sweep.learning_rate = tuple(2.0 ** -e for e in (12, 11, 10, 9, 8))  # exact in f32
    config.sweep.seed = (0, 1, 2)
    config.sweep.model = ("vae", "ae")
    result = run.train_and_evaluate(config, str(tmp_path))
    assert sorted(result) == ["model-ae", "model-vae"]
    assert sorted(traced) == [15, 15]  # one trace for each population of 15, over 2 epochs
    records = logs.read_metrics(str(tmp_path))
    vae = [r for r in records if r["population"] == "model-vae" and r["epoch"] == 2]
    assert sorted({(r["hparams"]["learning_rate"], r["hparams"]["seed"]) for r in vae}) == sorted(
        (2.0 ** -e, s) for e in (12, 11, 10, 9, 8) for s in (0, 1, 2))
    assert os.path.isdir(tmp_path / "checkpoints" / "model-ae")


def test_member_metrics_in_the_log_equal_a_lone_run(data_dir, tmp_path):
    config = small(data_dir, num_epochs=1)
    config.sweep.beta = (1.0, 4.0)
    config.sweep.seed = (0, 5)
    run.train_and_evaluate(config, str(tmp_path / "sweep"))
    alone = small(data_dir, num_epochs=1, beta=4.0, seed=5)
    run.train_and_evaluate(alone, str(tmp_path / "alone"))
    swept = [r for r in logs.read_metrics(str(tmp_path / "sweep"))
             if (r["hparams"]["beta"], r["hparams"]["seed"]) == (4.0, 5)]
    lone = logs.read_metrics(str(tmp_path / "alone"))
    assert len(swept) == len(lone) == 1
    for name in ("train/loss", "eval/nelbo", "eval/kl"):
        assert swept[0][name] == lone[0][name]


def test_zip_sweeps_and_bad_sweeps(data_dir):
    config = small(data_dir)
    config.sweep.beta, config.sweep.seed = (1.0, 2.0, 4.0), (0, 1, 2)
    config.sweep_mode = "zip"
    members = population.member_configs(config)
    assert [(m.beta, m.seed) for m in members] == [(1.0, 0), (2.0, 1), (4.0, 2)]
    config.sweep.seed = (0, 1)
    with pytest.raises(ConfigError, match="equally long"):
        population.member_configs(config)
    config.sweep.seed = ()
    with pytest.raises(ConfigError, match="sweep.seed is empty"):
        validation.check(config, log_warnings=False)
    unlocked = small(data_dir)
    unlocked.sweep.unlock()
    unlocked.sweep.batch_size = (32, 64)
    with pytest.raises(ConfigError, match="'batch_size' cannot be swept.*separate commands"):
        validation.check(unlocked, log_warnings=False)


def test_a_population_too_large_for_memory_is_refused_before_compiling(data_dir, tmp_path):
    config = small(data_dir, hidden=(4096, 4096), memory_limit_gb=1.0)
    config.sweep.seed = tuple(range(64))
    with pytest.raises(PopulationTooLargeError, match="64 members need about .* GiB.*1.0 GiB"):
        run.train_and_evaluate(config, str(tmp_path))
    assert not os.path.exists(tmp_path / "checkpoints")


def test_member_axis_is_sharded_over_four_devices(data_dir, tmp_path):
    script = textwrap.dedent(f"""
        import jax, numpy as np
        from configs import test as t
        from vae_jax import data, run
        from vae_jax.train import population
        assert len(jax.devices()) == 4
        config = t.get_config()
        config.data_dir = {data_dir!r}; config.num_train, config.num_test = 256, 128
        config.batch_size, config.figures, config.num_epochs = 32, False, 1
        config.sweep.beta = (0.5, 1.0, 2.0, 4.0)
        pop = population.split(config)[0]
        dataset = data.load(config)
        setup = run.Setup(config, dataset)
        states, keys, hparams, mesh = run.init_population(setup, pop, dataset)
        leaf = jax.tree.leaves(states.params)[0]
        assert mesh.shape == {{"members": 4, "data": 1}}, mesh
        assert len(leaf.sharding.device_set) == 4 and leaf.addressable_shards[0].data.shape[0] == 1
        result = run.train_and_evaluate(config, {str(tmp_path / "sharded")!r})
        print("NELBO", [r["eval/nelbo"] for r in result["main"]])
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    sharded = eval(out.stdout.split("NELBO")[1])
    config = small(data_dir, num_epochs=1)
    config.sweep.beta = (0.5, 1.0, 2.0, 4.0)
    single_device = run.train_and_evaluate(config, str(tmp_path / "one"))
    np.testing.assert_allclose(sharded, [r["eval/nelbo"] for r in single_device["main"]],
                               rtol=1e-5)


@pytest.mark.parametrize("member_map", ["unrolled", "map"])
def test_a_diverging_member_is_frozen_and_the_others_equal_their_lone_runs(data_dir,
                                                                           member_map):
    config = small(data_dir, member_map=member_map)
    dataset = data.load(config)
    members = members_of(config, betas=(1.0,), seeds=(3,), learning_rates=(1e-3, 1e30, 3e-3))
    together, history = trained(config, dataset, members)
    diverged = np.asarray(together.diverged_step)
    assert diverged[0] == diverged[2] == -1 and diverged[1] >= 1
    for i in (0, 2):  # the healthy members: bitwise their lone runs
        alone, alone_history = trained(config, dataset, [members[i]])
        jax.tree.map(np.testing.assert_array_equal, train.member(together, i),
                     train.member(alone, 0))
        for together_m, alone_m in zip(history, alone_history, strict=True):
            np.testing.assert_array_equal(together_m["loss"][i], alone_m["loss"][0])
    # The diverged member stopped at its first non-finite step: its step counter stayed there,
    # and one epoch of training alone (which reaches that step) leaves it where two do.
    assert int(together.step[1]) == diverged[1]
    steps_per_epoch = config.num_train // config.batch_size
    assert diverged[1] < steps_per_epoch, "lr=1e30 should diverge within the first epoch"
    assert not np.isfinite(history[0]["loss"][1])
    one_epoch, _ = trained(config, dataset, [members[1]], epochs=1)
    jax.tree.map(np.testing.assert_array_equal, train.member(together, 1),
                 train.member(one_epoch, 0))


def test_a_diverged_member_is_reported_and_the_run_goes_on(data_dir, tmp_path):
    from vae_jax.report import tables

    config = small(data_dir, num_epochs=2)
    config.sweep.learning_rate = (1e-3, 1e30)
    final = run.train_and_evaluate(config, str(tmp_path))["main"]
    healthy, diverged = final
    assert "diverged_at_step" not in healthy and np.isfinite(healthy["eval/nelbo"])
    assert diverged["diverged_at_step"] >= 1 and diverged["epoch"] == 2
    assert all(np.isnan(v) for k, v in diverged.items() if k.startswith(("train/", "eval/")))
    logged = [r for r in logs.read_metrics(str(tmp_path)) if r["member"] == 1]
    assert [("diverged_at_step" in r) for r in logged] == [True, True]  # listed every epoch
    rows = tables.summarize(tables.final_records(str(tmp_path)), ["learning_rate"],
                            ["eval/nelbo"])
    assert rows[1]["diverged"] == 1 and np.isnan(rows[1]["eval/nelbo"][0])
    # The healthy member's last nelbo, read straight from metrics.jsonl: a row of one healthy
    # member shows it (std undefined), and a row pooling both members leaves the diverged one
    # out (its NaN would make the mean NaN) and counts it.
    with open(tmp_path / "metrics.jsonl") as f:
        last = [r for r in map(json.loads, f) if r["member"] == 0][-1]["eval/nelbo"]
    assert rows[0]["eval/nelbo"][0] == last and np.isnan(rows[0]["eval/nelbo"][1])
    (pooled,) = tables.summarize(tables.final_records(str(tmp_path)), [], ["eval/nelbo"])
    assert pooled["seeds"] == 2 and pooled["diverged"] == 1
    assert pooled["eval/nelbo"][0] == last and np.isnan(pooled["eval/nelbo"][1])
    table = tables.markdown_table(rows, ["learning_rate", "eval/nelbo"], ["lr", "nelbo"])
    assert table.splitlines()[0] == "| lr | nelbo | diverged |"
    # When every member diverges there is nothing left to train: the run stops as a lone one.
    config.sweep.learning_rate = (1e30, 3e30)
    with pytest.raises(NonFiniteLossError, match="non-finite training loss.*member 1"):
        run.train_and_evaluate(config, str(tmp_path / "all"))
