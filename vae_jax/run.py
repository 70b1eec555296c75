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
from jax.sharding import PartitionSpec as P

from vae_jax import (
    checkpoints,
    data,
    divergence,
    fast_threefry,
    models,
    objectives,
    streams,
    train,
    validation,
    workdir_lock,
)
from vae_jax import hparams as hparams_lib
from vae_jax.errors import ConfigError
from vae_jax.metrics import evaluators, per_example
from vae_jax.report import logs, member_figures
from vae_jax.train import distributed, host_epoch, memory
from vae_jax.train import mesh as mesh_lib
from vae_jax.train import population as population_lib


def train_and_evaluate(config, workdir: str) -> dict[str, list[dict]]:
    """Trains every member of `config`'s sweep, resuming from `workdir` when it has checkpoints.

    Returns {population name: [last metrics record of each member]}.
    """
    validation.check(config)  # before anything is written, loaded or compiled
    if not workdir:
        raise ConfigError("--workdir is required: it receives the config, checkpoints and logs")
    config = resolve(config)
    os.makedirs(workdir, exist_ok=True)
    populations = population_lib.split(config)  # validates the sweep before anything is written
    for population in populations:  # and the mesh: devices, batch and grad_shards splits
        mesh_lib.make_mesh(population.size, population.static_config)
    with workdir_lock.hold(workdir), fast_threefry.unrolled_on_cpu(config.fast_threefry):
        checkpoints.check_or_write_config(workdir, config, write=distributed.is_primary())
        dataset = data.load(config)
        return {p.name: _train_population(p, dataset, workdir, len(populations) > 1)
                for p in populations}


def resolve(config):
    """A copy of `config` with its backend-dependent choices made (conv_impl's "auto"), as
    config.json records them."""
    config = config.copy_and_resolve_references()
    with config.unlocked():
        config.conv_impl = models.resolve_conv_impl(config.get("conv_impl", "auto"))
    return config


class Setup:
    """What one population's program is built from (static config -> model, loss, optimiser)."""

    def __init__(self, config, dataset: data.Dataset):
        self.config = config
        channels = dataset.image_shape[-1]
        self.model = models.build(config, dataset.image_shape, objectives.likelihood_channels(
            config.likelihood, channels, config.num_mixtures))
        self.log_likelihood = objectives.make_log_likelihood(
            config.likelihood, config.pixel_std, channels, config.num_mixtures)
        # logits -> the likelihood's mean image / (key, logits, x_logvar) -> a drawn image.
        self.mean_image = objectives.make_mean_image(config.likelihood, channels,
                                                     config.num_mixtures)
        self.sample_image = objectives.make_sample_image(config.likelihood, config.pixel_std,
                                                         channels, config.num_mixtures)
        self.loss_fn = objectives.build(config, self.model, len(dataset.train_images))
        self.tx = train.make_optimizer(config)
        self.steps_per_epoch = train.steps_per_epoch(len(dataset.train_images), config.batch_size)
        self.schedule = train.make_schedule(config, self.steps_per_epoch)
        self.member_map = train.resolve_member_map(config.member_map, config.architecture)
        self.output_bias = _output_bias(config, dataset)


def _output_bias(config, dataset: data.Dataset):
    if config.output_bias_init == "zeros":
        return None
    # data_mean, with the MLP decoder (validated in validation.py)
    mean = np.clip(dataset.train_images.mean(axis=0) / 255.0, 1e-3, 1 - 1e-3)
    return np.log(mean) - np.log1p(-mean)  # logit of the mean training pixel


def init_population(setup: Setup, population: population_lib.Population, dataset):
    """Fresh stacked states, keys and hparams of a population, placed over the devices."""
    population = population_lib.in_steps(population, setup.steps_per_epoch)  # ramps in epochs
    mesh = mesh_lib.make_mesh(population.size, setup.config)
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


def _compile(setup: Setup, dataset: data.Dataset, mesh, input_mode: str = "device") -> _Programs:
    """On a mesh (train.mesh): states stay P("members"), what the host reads is replicated."""
    config = setup.config
    batch_sharding = mesh_lib.sharding(mesh, "data")
    epoch_options = dict(
        batch_size=config.batch_size,
        dynamic_binarization=config.binarization == "dynamic"
        and config.dataset != "binarized_mnist", member_map=setup.member_map,
        grad_shards=config.grad_shards)
    if input_mode == "host":
        epoch_fn = host_epoch.make_host_epoch(
            setup.loss_fn, setup.tx, setup.schedule, chunk_steps=config.host_chunk_steps,
            prefetch=config.host_prefetch, mesh=mesh, **epoch_options)
    else:
        epoch_fn = mesh_lib.jit(train.make_train_epoch(
            setup.loss_fn, setup.tx, setup.schedule, batch_sharding=batch_sharding,
            **epoch_options), mesh, (P("members"), P()), donate_argnums=0)
    eval_names = evaluators.validate(config, dataset)
    final_names = evaluators.validate(config, dataset, final=True)
    evals = {names: mesh_lib.jit(evaluators.make_jitted_eval(setup, names, batch_sharding),
                                 mesh, P())
             for names in {eval_names, final_names}}
    encode = mesh_lib.jit(evaluators.make_population_encoder(setup, batch_sharding), mesh, P())
    return _Programs(epoch_fn, eval_names, final_names, evals, encode)


def _check_memory(setup: Setup, population, dataset: data.Dataset) -> str:
    """Chooses the input mode (config.input) and refuses a population that would not fit;
    -> 'device' | 'host'."""
    config = setup.config
    per_member = memory.estimate_member_bytes(setup.loss_fn, setup.model, setup.tx,
                                              dataset.image_shape, config.batch_size,
                                              hparams_lib.from_config(population.static_config))
    available = memory.available_bytes(config.memory_limit_gb)
    train_bytes, test_bytes = dataset.train_images.nbytes, dataset.test_images.nbytes
    mode = memory.choose_input(config.input, population, per_member, train_bytes, test_bytes,
                               available)
    memory.check_fits(population, per_member,
                      test_bytes + (train_bytes if mode == "device" else 0), available)
    return mode


def _evaluate(setup, names, eval_fn, encode_fn, states, keys, hparams, epoch, dataset,
              test_images, records, diverged):
    """Adds every member's 'eval/...' metrics to its record (all members in each program);
    diverged members get none from their codes (`diverged`: their steps, -1 if healthy)."""
    epoch_keys = evaluators.keys_for_epoch(keys.eval, epoch)
    scores = divergence.healthy_scores(
        jax.device_get(eval_fn(states.params, epoch_keys, hparams, test_images)), diverged)
    metrics = evaluators.summarize(names, scores, dataset, setup.config.exclude_train_labels)
    for i, record in enumerate(records):
        record.update({k: v[i] for k, v in metrics.items()})
    if not any(n in evaluators.ON_CODES for n in names):
        return
    codes = {"test": np.asarray(encode_fn(states.params, test_images))}
    if any(n in evaluators.ON_LABELS for n in names):
        probe_images = mesh_lib.replicate_like(
            evaluators.probe_train_images(dataset, setup.config), test_images)
        codes["train"] = np.asarray(encode_fn(states.params, probe_images))
    all_params = mesh_lib.to_host(states.params)  # several processes: gathered
    for i, record in enumerate(records):
        if diverged[i] >= 0:
            continue
        params = train.member(all_params, i)
        record.update(evaluators.code_metrics(
            names, {k: v[i] for k, v in codes.items()}, dataset,
            lambda images, p=params: per_example.encode_images(setup.model, p, images),
            setup.config))


def _progress_bar(config, population, start: int, images_per_epoch: int, primary: bool):
    return tqdm.tqdm(total=config.num_epochs * images_per_epoch,
                     initial=start * images_per_epoch, unit="img", unit_scale=True,
                     desc=population.name, disable=not (config.progress and primary),
                     smoothing=0.3)


def _train_population(population, dataset, workdir: str, several: bool) -> list[dict]:
    setup = Setup(population.static_config, dataset)
    population = population_lib.in_steps(population, setup.steps_per_epoch)  # ramps in epochs
    input_mode = _check_memory(setup, population, dataset)  # before anything is written
    # Whatever ends the run (an error included), the save in flight completes and orbax closes.
    with checkpoints.Checkpointer(os.path.join(workdir, "checkpoints", population.name),
                                  population.static_config.keep_checkpoints) as checkpointer:
        return _train_with(checkpointer, setup, population, input_mode, dataset, workdir,
                           several)


def _train_with(checkpointer, setup: Setup, population, input_mode: str, dataset, workdir: str,
                several: bool) -> list[dict]:
    config = setup.config
    states, keys, hparams, mesh = init_population(setup, population, dataset)
    start, states = checkpointer.restore_latest(states)
    checkpointer.check_extensible(start, config.num_epochs)
    primary = distributed.is_primary()  # the one process that writes files
    logger = (logs.MetricLogger(workdir, start, population.name) if primary
              else logs.NullLogger())
    # Host input: the training set stays on the host and is streamed chunk by chunk.
    images = (dataset.train_images if input_mode == "host"
              else mesh_lib.replicate(dataset.train_images, mesh))
    test_images = mesh_lib.replicate(dataset.test_images, mesh)
    data_key = streams.data_key(config.data_seed)
    programs = _compile(setup, dataset, mesh, input_mode)
    images_per_epoch = setup.steps_per_epoch * config.batch_size * population.size
    progress = _progress_bar(config, population, start, images_per_epoch, primary)
    last = []
    diverged = divergence.diverged_steps(states)
    tick = time.perf_counter()
    for epoch in range(start, config.num_epochs):
        states, metrics = programs.epoch(states, images, epoch, data_key, keys.train, hparams)
        metrics = jax.device_get(metrics)
        diverged, before = divergence.diverged_steps(states), diverged
        divergence.check(diverged, before, metrics["loss"], population, epoch,
                         checkpointer.latest_epoch, workdir)
        done = epoch + 1
        records = [{f"train/{k}": v[i] for k, v in metrics.items()}
                   for i in range(population.size)]
        if done % config.eval_every == 0 or done == config.num_epochs:
            names = programs.eval_names_at(done, config.num_epochs)
            _evaluate(setup, names, programs.evals[names], programs.encode, states, keys,
                      hparams, done, dataset, test_images, records, diverged)
        divergence.mark(records, diverged)
        _checkpoint(checkpointer, config, done, states)
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
        states, keys = mesh_lib.to_host((states, keys))  # several processes: gathered
        if primary:
            _write_figures(setup, population, states, keys, dataset, workdir, several, diverged)
    return last or _last_records(workdir, population.name)


def _checkpoint(checkpointer, config, done: int, states) -> None:
    """Saves epoch `done` when due: every checkpoint_every epochs and the last, which keeps no
    Adam moments under final_checkpoint=params."""
    final = done == config.num_epochs
    if done % config.checkpoint_every == 0 or final:
        checkpointer.save(done, states,
                          optimizer_state=not (final and config.final_checkpoint == "params"))


def _log_epoch(logger, population, records: list[dict], step: int, epoch: int, timing: dict,
               several: bool) -> list[dict]:
    """Writes one record per member; returns them."""
    labels = population.member_labels()
    written = []
    for i, record in enumerate(records):
        # member: its place in this workdir's population; sweep_index: in the whole sweep
        # (the same in any slice), what vae_jax.report lines members up by.
        record = dict(step=step, epoch=epoch, population=population.name, member=i,
                      sweep_index=population.sweep_index(i), hparams=labels[i], **record,
                      **timing)
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


def _write_figures(setup, population, states, keys, dataset, workdir: str, several: bool,
                   diverged):
    records = logs.read_metrics(workdir)
    labels = population.member_labels()
    # Titles name what differs between the members (all Hparams would not fit).
    varying = [k for k in labels[0] if len({label[k] for label in labels}) > 1] or ["seed"]
    for i, label in enumerate(labels):
        if diverged[i] >= 0:  # frozen at non-finite values: nothing to draw
            continue
        tag = _member_tag(population, i, several)
        directory = os.path.join(workdir, "figures", tag)
        params = train.member(states.params, i)
        title = ", ".join(f"{k}={label[k]:g}" for k in varying) if tag else population.name
        member_figures.write_member_figures(setup.model, params, dataset,
                                            train.member(keys.sample, i), directory, title,
                                            setup.config.latents, setup.mean_image)
        mine = [r for r in records if r.get("population") == population.name
                and r.get("member") == i]
        member_figures.write_curves(mine, os.path.join(directory, "curves.png"),
                                    f"{title}: loss curves")
