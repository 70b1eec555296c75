import json
import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import vae as vae_config
from vae_jax import checkpoints, hparams, models, objectives, run, train
from vae_jax.errors import CheckpointError, NonFiniteLossError
from vae_jax.report import logs
from vae_jax.train import grad_shards

pytestmark = pytest.mark.real_data


def small_setup():
    config = vae_config.get_config()
    config.hidden, config.latents = (32,), 4
    model = models.build(config, (28, 28, 1))
    tx = train.make_optimizer(config)
    loss_fn = objectives.build(config, model)
    return config, model, tx, loss_fn


def test_one_step_gives_finite_values_and_moves_the_parameters():
    config, model, tx, loss_fn = small_setup()
    state = train.create_state(jax.random.key(0), model, tx, (28, 28, 1))
    x = (jax.random.uniform(jax.random.key(1), (16, 28, 28, 1)) > 0.7).astype(jnp.float32)
    step = jax.jit(lambda s, x, k, h: train.train_step(
        s, x, k, h, loss_fn=loss_fn, tx=tx, schedule=train.make_schedule(config, 10)))
    new, metrics = step(state, x, jax.random.key(2), hparams.from_config(config))
    assert int(new.step) == 1
    # The step's metrics are the loss at the old parameters under its key fold_in(key, 0), and
    # Adam's first update is known in closed form: both moments are bias-corrected to g and
    # g^2, so each parameter moves by -lr * g / (|g| + eps) (lr = 1e-3, constant schedule).
    step_key = jax.random.fold_in(jax.random.key(2), 0)
    grads, expected = jax.grad(loss_fn, has_aux=True)(state.params, x, step_key,
                                                      hparams.from_config(config), 0)
    for name in ("loss", "recon", "kl", "nelbo"):
        assert float(metrics[name]) == pytest.approx(float(expected[name]), rel=1e-6), name
    lr, eps = config.learning_rate, config.adam_eps
    for old, moved, g in zip(jax.tree.leaves(state.params), jax.tree.leaves(new.params),
                             jax.tree.leaves(grads), strict=True):
        g = np.asarray(g, np.float64)
        np.testing.assert_allclose(np.asarray(moved, np.float64) - np.asarray(old, np.float64),
                                   -lr * g / (np.abs(g) + eps), rtol=1e-4, atol=1e-9)
    assert float(metrics["nelbo"]) == pytest.approx(float(metrics["recon"] + metrics["kl"]))


def test_grad_shards_average_the_groups_gradients_in_a_fixed_order():
    """grad_shards=4: group g's gradient is the plain one of rows 4g..4g+3 with key
    fold_in(key, g); the step takes their mean (summed g = 0, 1, 2, 3)."""
    config, model, tx, loss_fn = small_setup()
    params = train.create_state(jax.random.key(0), model, tx, (28, 28, 1)).params
    x = (jax.random.uniform(jax.random.key(1), (16, 28, 28, 1)) > 0.7).astype(jnp.float32)
    h = hparams.from_config(config)
    grads, metrics = jax.jit(grad_shards.make_gradient(loss_fn, 4))(
        params, x, jax.random.key(2), h, 0)
    plain = jax.jit(jax.grad(loss_fn, has_aux=True))
    groups = [plain(params, x[4 * g:4 * g + 4], jax.random.fold_in(jax.random.key(2), g), h, 0)
              for g in range(4)]
    expected = jax.tree.map(lambda *a: sum(a) / 4, *groups)
    chex.assert_trees_all_close((grads, metrics), expected, rtol=1e-5, atol=1e-6)


def test_schedules():
    config = vae_config.get_config()
    config.num_epochs = 3280
    config.lr_schedule = "burda"
    schedule = train.make_schedule(config, steps_per_epoch=1)
    # Stage i lasts 3^i epochs at 10^(-i/7): boundaries after 1, 4, 13, ... epochs.
    assert float(schedule(jnp.array(0))) == pytest.approx(1.0)
    assert float(schedule(jnp.array(1))) == pytest.approx(10 ** (-1 / 7))
    assert float(schedule(jnp.array(3))) == pytest.approx(10 ** (-1 / 7))
    assert float(schedule(jnp.array(4))) == pytest.approx(10 ** (-2 / 7))
    assert float(schedule(jnp.array(3279))) == pytest.approx(0.1)
    # A 60-epoch budget keeps the 8 stages and rates with a smaller growth factor.
    stages = train.burda_stage_epochs(60)
    assert sum(stages) == pytest.approx(60) and stages[0] == pytest.approx(1.0)
    ratios = np.array(stages[1:]) / np.array(stages[:-1])
    np.testing.assert_allclose(ratios, ratios[0])
    assert 1 < ratios[0] < 3
    config.num_epochs = 60
    schedule = train.make_schedule(config, steps_per_epoch=10)
    assert float(schedule(jnp.array(0))) == pytest.approx(1.0)
    assert float(schedule(jnp.array(599))) == pytest.approx(0.1)
    config.lr_schedule = "cosine"
    assert float(train.make_schedule(config, 1)(jnp.array(60))) == pytest.approx(0.0, abs=1e-6)


def test_the_epoch_compiles_once(tiny_config, tmp_path):
    config, model, tx, loss_fn = small_setup()
    epoch = train.make_train_epoch(loss_fn, tx, train.make_schedule(config, 4), batch_size=8,
                                   dynamic_binarization=True, member_map="map")
    epoch = jax.jit(chex.assert_max_traces(epoch, n=1))
    states = jax.vmap(lambda k: train.create_state(k, model, tx, (28, 28, 1)))(
        jax.random.split(jax.random.key(0), 2))
    images = jnp.asarray(np.random.default_rng(0).integers(0, 255, (32, 28, 28, 1)), jnp.uint8)
    hp = train.stack_members([hparams.from_config(config)] * 2)
    train_keys = jax.random.split(jax.random.key(1), 2)
    for e in range(3):  # new epochs, new values: no retrace
        states, _ = epoch(states, images, e, jax.random.key(2), train_keys, hp)
    assert int(states.step[0]) == 12


def without_timings(records):
    return [{k: v for k, v in r.items() if not k.startswith("perf/")} for r in records]


def _final_params(workdir, config):
    dataset_shape = (28, 28, 1)
    model = models.build(config, dataset_shape)
    tx = train.make_optimizer(config)
    like = jax.vmap(lambda k: train.create_state(k, model, tx, dataset_shape))(
        jax.random.split(jax.random.key(0), 1))
    ckpt = checkpoints.Checkpointer(os.path.join(workdir, "checkpoints", "main"))
    state = ckpt.restore(ckpt.latest_epoch(), like)
    ckpt.close()
    return state


def test_resume_is_exact(tiny_config, tmp_path):
    tiny_config.num_epochs = 4
    run.train_and_evaluate(tiny_config, str(tmp_path / "straight"))
    half = tiny_config.copy_and_resolve_references()
    half.num_epochs = 2
    run.train_and_evaluate(half, str(tmp_path / "resumed"))
    run.train_and_evaluate(tiny_config, str(tmp_path / "resumed"))  # same workdir: resumes
    a = _final_params(str(tmp_path / "straight"), tiny_config)
    b = _final_params(str(tmp_path / "resumed"), tiny_config)
    jax.tree.map(np.testing.assert_array_equal, a, b)  # bitwise
    assert without_timings(logs.read_metrics(str(tmp_path / "straight"))) == without_timings(
        logs.read_metrics(str(tmp_path / "resumed")))
    assert [r["epoch"] for r in logs.read_metrics(str(tmp_path / "resumed"))] == [1, 2, 3, 4]


class _Interrupted(Exception):
    """Stands for a crash or a kill between two epochs."""


def _run_until_interrupted(config, workdir: str, after_epoch: int, monkeypatch) -> None:
    """Trains `config` in `workdir` and stops once epoch `after_epoch` is logged and its
    checkpoint is on disk, as an interrupted job would."""
    save, log_epoch = checkpoints.Checkpointer.save, run._log_epoch

    def save_and_wait(self, epoch, states, **kwargs):
        save(self, epoch, states, **kwargs)
        self.latest_epoch()  # waits for the background write

    def log_then_stop(logger, population, records, step, epoch, *args):
        written = log_epoch(logger, population, records, step, epoch, *args)
        if epoch == after_epoch:
            logger.close()
            raise _Interrupted
        return written

    with monkeypatch.context() as patch:
        patch.setattr(checkpoints.Checkpointer, "save", save_and_wait)
        patch.setattr(run, "_log_epoch", log_then_stop)
        with pytest.raises(_Interrupted):
            run.train_and_evaluate(config, workdir)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "burda"])
def test_an_interrupted_run_resumes_bitwise_on_every_lr_schedule(schedule, tiny_config, tmp_path,
                                                                monkeypatch):
    tiny_config.num_epochs, tiny_config.lr_schedule = 4, schedule
    run.train_and_evaluate(tiny_config, str(tmp_path / "straight"))
    _run_until_interrupted(tiny_config, str(tmp_path / "resumed"), 2, monkeypatch)
    assert [r["epoch"] for r in logs.read_metrics(str(tmp_path / "resumed"))] == [1, 2]
    run.train_and_evaluate(tiny_config, str(tmp_path / "resumed"))  # resumes at epoch 2
    a = _final_params(str(tmp_path / "straight"), tiny_config)
    b = _final_params(str(tmp_path / "resumed"), tiny_config)
    jax.tree.map(np.testing.assert_array_equal, a, b)  # bitwise
    assert without_timings(logs.read_metrics(str(tmp_path / "straight"))) == without_timings(
        logs.read_metrics(str(tmp_path / "resumed")))


@pytest.mark.parametrize("schedule", ["cosine", "burda"])
def test_num_epochs_of_a_schedule_shaped_by_it_cannot_change_on_resume(schedule, tiny_config,
                                                                       tmp_path):
    tiny_config.lr_schedule, tiny_config.num_epochs = schedule, 2
    checkpoints.check_or_write_config(str(tmp_path), tiny_config)
    tiny_config.num_epochs = 4
    with pytest.raises(CheckpointError, match=f"lr_schedule '{schedule}' is shaped by "
                                              "num_epochs.*from 2 to 4.*new --workdir"):
        checkpoints.check_or_write_config(str(tmp_path), tiny_config)
    tiny_config.num_epochs = 2
    checkpoints.check_or_write_config(str(tmp_path), tiny_config)  # the same run resumes


def test_a_finished_run_rerun_does_nothing_and_keeps_its_log(tiny_config, tmp_path):
    first = run.train_and_evaluate(tiny_config, str(tmp_path))
    again = run.train_and_evaluate(tiny_config, str(tmp_path))
    assert first == again
    assert len(logs.read_metrics(str(tmp_path))) == tiny_config.num_epochs


def _size(directory) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(directory) for f in fs)


def test_a_params_only_final_checkpoint_is_smaller_restores_and_refuses_extension(
        tiny_config, tmp_path):
    tiny_config.keep_checkpoints = 1
    full = run.train_and_evaluate(tiny_config, str(tmp_path / "full"))
    tiny_config.final_checkpoint = "params"
    small = run.train_and_evaluate(tiny_config, str(tmp_path / "small"))
    assert without_timings(small["main"]) == without_timings(full["main"])
    # Adam's two moments are as big as the parameters: the checkpoint keeps about a third.
    assert (_size(tmp_path / "small" / "checkpoints")
            < 0.4 * _size(tmp_path / "full" / "checkpoints"))
    jax.tree.map(np.testing.assert_array_equal,
                 _final_params(str(tmp_path / "full"), tiny_config).params,
                 _final_params(str(tmp_path / "small"), tiny_config).params)
    assert run.train_and_evaluate(tiny_config, str(tmp_path / "small")) == small  # finished
    tiny_config.num_epochs += 1  # constant schedule: extensible, but not without the moments
    with pytest.raises(CheckpointError, match="without optimizer state.*final_checkpoint=full"):
        run.train_and_evaluate(tiny_config, str(tmp_path / "small"))


def test_workdir_files(tiny_config, tmp_path):
    tiny_config.figures = True
    tiny_config.latents = 2
    run.train_and_evaluate(tiny_config, str(tmp_path))
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["latents"] == 2 and saved["dataset"] == "mnist"
    record = logs.read_metrics(str(tmp_path))[-1]
    for name in ("step", "epoch", "train/loss", "eval/nelbo", "eval/recon", "eval/kl"):
        assert name in record
    assert record["eval/nelbo"] == pytest.approx(record["eval/recon"] + record["eval/kl"], rel=1e-5)
    figures = set(os.listdir(tmp_path / "figures"))
    assert {"reconstructions.png", "samples.png", "latents.png", "manifold.png",
            "curves.png", "traversals.png", "interpolations.png"} <= figures
    events = os.listdir(tmp_path / "tensorboard/main")
    assert any(f.startswith("events.out.tfevents") for f in events)


def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(tiny_config, tmp_path):
    tiny_config.num_epochs = 1
    run.train_and_evaluate(tiny_config, str(tmp_path))
    good = sorted(os.listdir(tmp_path / "checkpoints" / "main"))
    tiny_config.num_epochs = 3
    tiny_config.learning_rate = 1e30  # allowed? no: learning_rate is part of the run's config
    with pytest.raises(CheckpointError, match="learning_rate"):
        run.train_and_evaluate(tiny_config, str(tmp_path))
    fresh = tmp_path / "fresh"
    with pytest.raises(NonFiniteLossError, match="non-finite training loss.*learning_rate"):
        run.train_and_evaluate(tiny_config, str(fresh))
    assert not os.path.exists(fresh / "checkpoints" / "main" / "1")  # nothing bad was saved
    assert sorted(os.listdir(tmp_path / "checkpoints" / "main")) == good


def test_checkpoint_of_an_incompatible_config(tiny_config, tmp_path):
    tiny_config.num_epochs = 1
    run.train_and_evaluate(tiny_config, str(tmp_path))
    tiny_config.latents = 8
    with pytest.raises(CheckpointError, match="latents: 4 -> 8.*new --workdir"):
        run.train_and_evaluate(tiny_config, str(tmp_path))
    # Even without config.json, orbax's shape check is turned into a clear error.
    os.remove(tmp_path / "config.json")
    tiny_config.num_epochs = 2
    with pytest.raises(CheckpointError, match="cannot be restored.*nothing was deleted"):
        run.train_and_evaluate(tiny_config, str(tmp_path))
    assert os.path.isdir(tmp_path / "checkpoints" / "main" / "1")


def test_unreadable_checkpoint(tiny_config, tmp_path):
    tiny_config.num_epochs = 1
    run.train_and_evaluate(tiny_config, str(tmp_path))
    for root, _, files in os.walk(tmp_path / "checkpoints" / "main" / "1"):
        for name in files:
            if name.endswith(".ocdbt") or "manifest" in name:
                with open(os.path.join(root, name), "wb") as f:
                    f.write(b"garbage")
    tiny_config.num_epochs = 2
    with pytest.raises(CheckpointError, match="cannot be restored"):
        run.train_and_evaluate(tiny_config, str(tmp_path))
