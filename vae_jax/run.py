"""train_and_evaluate: restore-or-init, epochs, evaluation, logs, checkpoints, figures.

Orchestration only; the maths lives in train / objectives / metrics. Every run is a list of
populations (one per static signature of the sweep; a plain run is one population of one).
"""

from __future__ import annotations

import dataclasses
import os
import time

import jax
import numpy as np
import tqdm

from vae_jax import checkpoints, data, models, objectives, train
from vae_jax.errors import ConfigError, NonFiniteLossError
from vae_jax.metrics import evaluators, per_example
from vae_jax.report import logs, member_figures
from vae_jax.train import memory
from vae_jax.train import mesh as mesh_lib
from vae_jax.train import population as population_lib


def train_and_evaluate(config, workdir: str) -> dict[str, list[dict]]:
    """Trains every member of `config`'s sweep, resuming from `workdir` when it has checkpoints.

    Returns {population name: [last metrics record of each member]}.
    """
    if not workdir:
        raise ConfigError("--workdir is required: it receives the config, checkpoints and logs")
    os.makedirs(workdir, exist_ok=True)
    populations = population_lib.split(config)  # validates the sweep before anything is written
    checkpoints.check_or_write_config(workdir, config)
    dataset = data.load(config)
    return {p.name: _train_population(p, dataset, workdir, len(populations) > 1)
            for p in populations}


class Setup:
    """What one population's program is built from (static config -> model, loss, optimiser)."""

    def __init__(self, config, dataset: data.Dataset):
        self.config = config
        self.model = models.build(config, dataset.image_shape)
        self.log_likelihood = objectives.make_log_likelihood(config.likelihood, config.pixel_std)
        self.loss_fn = objectives.build(config, self.model, len(dataset.train_images))
        self.tx = train.make_optimizer(config)
        self.steps_per_epoch = train.steps_per_epoch(len(dataset.train_images), config.batch_size)
        self.schedule = train.make_schedule(config, self.steps_per_epoch)
        self.member_map = train.resolve_member_map(config.member_map, config.architecture)
        self.output_bias = _output_bias(config, dataset)


def _output_bias(config, dataset: data.Dataset):
    if config.output_bias_init == "zeros":
        return None
    if config.output_bias_init == "data_mean":
        mean = np.clip(dataset.train_images.mean(axis=0) / 255.0, 1e-3, 1 - 1e-3)
        return np.log(mean) - np.log1p(-mean)  # logit of the mean training pixel
    raise ConfigError(
        f"unknown output_bias_init {config.output_bias_init!r}; choose zeros or data_mean"
    )


def init_population(setup: Setup, population: population_lib.Population, dataset):
    """Fresh stacked states, keys and hparams of a population, placed over the devices."""
    population = population_lib.in_steps(population, setup.steps_per_epoch)
    mesh = mesh_lib.member_mesh(population.size)
    states = population_lib.init_states(population, setup.model, setup.tx,
                                        dataset.image_shape, setup.output_bias)
    keys = population.keys()
    return (mesh_lib.shard_members(states, mesh), mesh_lib.shard_members(keys, mesh),
            mesh_lib.shard_members(population.hparams(), mesh), mesh)


@dataclasses.dataclass
class _Programs:
    """A population's compiled functions: the epoch, one evaluation per evaluator set, the
    encoder. Periodic evaluations run config.evals; the last one adds config.final_evals
    (costly ones such as nll). Each set is its own program, compiled when first used."""

    epoch: object
    eval_names: tuple[str, ...]
    final_names: tuple[str, ...]
    evals: dict
    encode: object

    def eval_names_at(self, done: int, num_epochs: int) -> tuple[str, ...]:
        return self.final_names if done == num_epochs else self.eval_names


def _compile(setup: Setup, dataset: data.Dataset) -> _Programs:
    config = setup.config
    epoch_fn = jax.jit(train.make_train_epoch(
        setup.loss_fn, setup.tx, setup.schedule, batch_size=config.batch_size,
        dynamic_binarization=config.binarization == "dynamic"
        and config.dataset != "binarized_mnist", member_map=setup.member_map),
        donate_argnums=0)
    eval_names = evaluators.validate(config, dataset)
    final_names = evaluators.validate(config, dataset, final=True)
    evals = {names: jax.jit(evaluators.make_jitted_eval(setup, names))
             for names in {eval_names, final_names}}
    encode = jax.jit(evaluators.make_population_encoder(setup))
    return _Programs(epoch_fn, eval_names, final_names, evals, encode)


def _check_memory(setup: Setup, population, dataset: data.Dataset) -> None:
    config = setup.config
    memory.check_fits(
        population,
        memory.estimate_member_bytes(setup.model, setup.tx, dataset.image_shape,
                                     config.batch_size),
        dataset.train_images.nbytes + dataset.test_images.nbytes,
        memory.available_bytes(config.memory_limit_gb))


def _evaluate(setup, names, eval_fn, encode_fn, states, keys, hparams, epoch, dataset,
              test_images, records):
    """Adds every member's 'eval/...' metrics to its record (all members in each program)."""
    epoch_keys = evaluators.keys_for_epoch(keys.eval, epoch)
    scores = jax.device_get(eval_fn(states.params, epoch_keys, hparams, test_images))
    metrics = evaluators.summarize(names, scores, dataset, setup.config.exclude_train_labels)
    for i, record in enumerate(records):
        record.update({k: v[i] for k, v in metrics.items()})
    if not any(n in evaluators.ON_CODES for n in names):
        return
    codes = {"test": np.asarray(encode_fn(states.params, test_images))}
    if any(n in evaluators.ON_LABELS for n in names):
        probe_images = jax.device_put(evaluators.probe_train_images(dataset, setup.config))
        codes["train"] = np.asarray(encode_fn(states.params, probe_images))
    for i, record in enumerate(records):
        params = train.member(states.params, i)
        record.update(evaluators.code_metrics(
            names, {k: v[i] for k, v in codes.items()}, dataset,
            lambda images, p=params: per_example.encode_images(setup.model, p, images),
            setup.config))


def _check_finite(metrics: dict, population, epoch: int, checkpointer, workdir: str):
    losses = np.asarray(metrics["loss"])
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        last_good = checkpointer.latest_epoch()  # waits for a save still in flight
        labels = population.member_labels()
        who = "; ".join(f"member {i} {labels[i]}" for i in bad[:4])
        kept = (f"the last good checkpoint (epoch {last_good}) is kept in {workdir}"
                if last_good else "no checkpoint had been written yet")
        raise NonFiniteLossError(
            f"non-finite training loss ({losses[bad[0]]}) in epoch {epoch + 1} for {who}. "
            f"Training stopped and {kept}. Lower --config.learning_rate (or beta), or check the "
            "data for NaNs."
        )


def _progress_bar(config, population, start: int, images_per_epoch: int):
    return tqdm.tqdm(total=config.num_epochs * images_per_epoch,
                     initial=start * images_per_epoch, unit="img", unit_scale=True,
                     desc=population.name, disable=not config.progress, smoothing=0.3)


def _train_population(population, dataset, workdir: str, several: bool) -> list[dict]:
    config = population.static_config
    setup = Setup(config, dataset)
    population = population_lib.in_steps(population, setup.steps_per_epoch)  # ramps in epochs
    _check_memory(setup, population, dataset)
    states, keys, hparams, mesh = init_population(setup, population, dataset)
    checkpointer = checkpoints.Checkpointer(
        os.path.join(workdir, "checkpoints", population.name), config.keep_checkpoints)
    start = checkpointer.latest_epoch() or 0
    if start:
        states = checkpointer.restore(start, states)
    logger = logs.MetricLogger(workdir, start, population.name)
    images = mesh_lib.replicate(dataset.train_images, mesh)
    test_images = mesh_lib.replicate(dataset.test_images, mesh)
    data_key = jax.random.key(config.data_seed)
    programs = _compile(setup, dataset)
    images_per_epoch = setup.steps_per_epoch * config.batch_size * population.size
    progress = _progress_bar(config, population, start, images_per_epoch)
    last = []
    tick = time.perf_counter()
    for epoch in range(start, config.num_epochs):
        states, metrics = programs.epoch(states, images, epoch, data_key, keys.train, hparams)
        metrics = jax.device_get(metrics)
        _check_finite(metrics, population, epoch, checkpointer, workdir)
        done = epoch + 1
        records = [{f"train/{k}": v[i] for k, v in metrics.items()}
                   for i in range(population.size)]
        if done % config.eval_every == 0 or done == config.num_epochs:
            names = programs.eval_names_at(done, config.num_epochs)
            _evaluate(setup, names, programs.evals[names], programs.encode, states, keys,
                      hparams, done, dataset, test_images, records)
        if done % config.checkpoint_every == 0 or done == config.num_epochs:
            checkpointer.save(done, states)
        # Wall time of the whole iteration (step, eval, checkpoint, and the previous epoch's
        # logging): the real training path's speed. Epoch 1 of a process includes compiling.
        tock = time.perf_counter()
        timing = {"perf/epoch_seconds": tock - tick,
                  "perf/images_per_second": images_per_epoch / (tock - tick)}
        tick = tock
        last = _log_epoch(logger, population, records, done * setup.steps_per_epoch, done,
                          timing, several)
        progress.update(images_per_epoch)
        progress.set_postfix(_postfix(records))
    progress.close()
    logger.close()
    if config.figures:
        _write_figures(setup, population, states, keys, dataset, workdir, several)
    checkpointer.close()
    return last or _last_records(workdir, population.name)


def _log_epoch(logger, population, records: list[dict], step: int, epoch: int, timing: dict,
               several: bool) -> list[dict]:
    """Writes one record per member; returns them."""
    labels = population.member_labels()
    written = []
    for i, record in enumerate(records):
        record = dict(step=step, epoch=epoch, population=population.name, member=i,
                      hparams=labels[i], **record, **timing)
        logger.write(record, member_tag=_member_tag(population, i, several))
        written.append(record)
    return written


def _member_tag(population, index: int, several: bool) -> str:
    if population.size == 1 and not several:
        return ""
    return f"{population.name}/member_{index}"


def _postfix(records: list[dict]) -> dict:
    best = min(records, key=lambda r: r.get("eval/nelbo", r.get("train/loss", np.inf)))
    return {k.split("/")[-1] if k.startswith("train") else k: f"{float(v):.2f}"
            for k, v in best.items() if k in ("train/loss", "eval/nelbo", "eval/recon")}


def _last_records(workdir: str, name: str) -> list[dict]:
    """The final record of each member, from the log (a run that was already complete)."""
    final = {}
    for record in logs.read_metrics(workdir):
        if record.get("population") == name:
            final[record["member"]] = record
    return [final[i] for i in sorted(final)]


def _write_figures(setup, population, states, keys, dataset, workdir: str, several: bool):
    records = logs.read_metrics(workdir)
    labels = population.member_labels()
    # Titles name what differs between the members (all Hparams would not fit).
    varying = [k for k in labels[0] if len({label[k] for label in labels}) > 1] or ["seed"]
    for i, label in enumerate(labels):
        tag = _member_tag(population, i, several)
        directory = os.path.join(workdir, "figures", tag)
        params = train.member(states.params, i)
        title = ", ".join(f"{k}={label[k]:g}" for k in varying) if tag else population.name
        member_figures.write_member_figures(setup.model, params, dataset,
                                            train.member(keys.sample, i), directory, title,
                                            setup.config.latents)
        mine = [r for r in records if r.get("population") == population.name
                and r.get("member") == i]
        member_figures.write_curves(mine, os.path.join(directory, "curves.png"),
                                    f"{title}: loss curves")


def load_trained(config, workdir: str, dataset: data.Dataset | None = None):
    """[(population, setup, states, keys)] restored from the latest checkpoints of `workdir`.

    For experiments that evaluate trained members further (anomaly scores, say).
    """
    dataset = dataset or data.load(config)
    loaded = []
    for population in population_lib.split(config):
        setup = Setup(population.static_config, dataset)
        states, keys, _, _ = init_population(setup, population, dataset)
        checkpointer = checkpoints.Checkpointer(
            os.path.join(workdir, "checkpoints", population.name))
        epoch = checkpointer.latest_epoch()
        if epoch is None:
            raise checkpoints.CheckpointError(f"no checkpoint in {checkpointer.directory}")
        loaded.append((population, setup, checkpointer.restore(epoch, states), keys))
        checkpointer.close()
    return loaded


def load_member(workdir: str, population_name: str = "main", index: int = 0):
    """(model, params, member config) of one member, from the workdir's config.json alone."""
    import json

    import ml_collections

    with open(os.path.join(workdir, "config.json")) as f:
        config = ml_collections.ConfigDict(json.load(f))
    for key in ("hidden", "conv_channels", "evals", "final_evals", "exclude_train_labels"):
        config[key] = tuple(config[key])
    for population, setup, states, _ in load_trained(config, workdir):
        if population.name == population_name:
            return setup.model, train.member(states.params, index), \
                population.configs[index]
    raise checkpoints.CheckpointError(f"no population {population_name!r} in {workdir}")
