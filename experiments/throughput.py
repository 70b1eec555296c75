"""Throughput of vae_jax against references measured in the same run (medians of repeats).

Command:  python experiments/throughput.py --out throughput.json [--only=training,population]
          (MNIST from $VAE_JAX_DATA_DIR or --data_dir; the PyTorch and pythae references need
          `pip install -e ".[bench]"` and are skipped with a note if missing)
Hardware: the numbers in docs/performance.md were taken on the 2-core CPU development machine.

Each ratio is the median over repeats of the ratio within a repeat (vs_bare_scan, vs_pytorch,
vs_flax_example and the population ratios with their two terms timed back to back): this
machine drifts by tens of percent over minutes. What each compares (higher is better for
vae_jax):
* vs_bare_scan: the real training path (run.train_and_evaluate with its eval, logs and
  checkpoints; epoch times from its own metrics.jsonl, compile excluded) against a bare jitted
  lax.scan epoch of the same model and loss with nothing around it. Target >= 0.9.
* vs_pytorch: against the same VAE in PyTorch eager on the CPU. Target >= 1.6.
* vs_flax_example: against the official Flax VAE example's step pattern as shipped (one
  Python-dispatched, un-jitted step per batch). Target >= 15. Both train on statically
  binarised MNIST, as the example does (our real path with dataset=binarized_mnist);
  vs_flax_example_dynamic is our default dynamic binarisation (a Bernoulli draw of every pixel
  of every batch, ~2% of the step on CPU with config.fast_threefry) against the same example.
* population_vs_sequential_n{8,32}[_conv]: images/s of a population of N betas trained as one
  program against the same N members trained one after another. Target >= 1.0 on CPU.
* nll_vs_pythae (and nll_fraction_of_ceiling): see experiments/nll_benchmark.py. Target >= 3.
* host_vs_device (`--only=host`): the real path with --config.input=host (the training set
  streamed from the host by grain, data/host_input.py) against --config.input=device, each
  repeat timing both back to back. Target >= 0.8.
* study_<model>_images_per_second (`--only=study`): one member of configs/study_locatello.py
  (disentanglement_lib's conv network, batch 64) through the real path, beside
  study_reference_images_per_second, one member of configs/disentanglement.py (the MLP the
  CPU study trains) in the same run; study_cpu_hours_<model> is what Locatello et al.'s study
  (6 models x 6 values x 50 seeds x 300k steps of 64) would cost at that rate.
* grad_shards_{2,4,8}_vs_off (`--only=grad_shards`): the bare epoch with fixed-order gradients
  (train/grad_shards.py) against the plain one on one device: what the same bits on any
  number of devices cost where there is only one.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time

import jax
import numpy as np
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import disentanglement as disentanglement_config  # noqa: E402
from configs import study_locatello  # noqa: E402
from configs import vae as vae_config  # noqa: E402
from experiments.baselines.flax_example import (  # noqa: E402
    flax_example_images_per_second,
    flax_example_jitted_images_per_second,
)
from experiments.baselines.torch_vae import torch_images_per_second  # noqa: E402
from vae_jax import data, fast_threefry, run, streams, train
from vae_jax.cli import run_command  # noqa: E402
from vae_jax.report import logs
from vae_jax.train import population  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "JSON file for the figures and ratios.")
flags.DEFINE_string("data_dir", "", "IDX folder (default $VAE_JAX_DATA_DIR).")
flags.DEFINE_integer("repeats", 3, "Repeats of each measurement; medians are reported.")
flags.DEFINE_list("only", ["training", "population", "nll"],
                  "Which groups to measure: training, population, nll, host, grad_shards.")
flags.DEFINE_list("population_sizes", ["8", "32"], "Population sizes to compare.")
flags.DEFINE_string("member_map", "auto",
                    "How populations map members: auto | vmap | map | unrolled.")
flags.DEFINE_list("study_models", ["beta_vae", "factor_vae"],
                  "Models of configs/study_locatello.py timed by --only=study.")
flags.DEFINE_integer("study_steps", 8, "Steps per timed epoch of a study member.")
flags.DEFINE_integer("pythae_images", 20, "Images timed through pythae's get_nll (~9/s).")
flags.DEFINE_integer("nll_test_images", 0, "Test images of our NLL timing (0 = all 10,000).")
flags.DEFINE_list("architectures", ["mlp", "conv"], "Architectures of the population comparison.")
flags.DEFINE_integer("population_num_train", 0, "Training images of the population comparison "
                     "(0 = ~2 s per member-epoch on 2 CPU cores; a GPU needs more to time).")


def mnist_config(**overrides):
    config = vae_config.get_config()
    config.data_dir = FLAGS.data_dir
    config.figures = False
    config.progress = False
    for key, value in overrides.items():
        config[key] = value
    return config


# -------------------------------------------------------------------------------- training path
def real_path_images_per_second(config, epochs: int) -> float:
    """Median epoch rate of train_and_evaluate after its first (compiling) epoch."""
    with tempfile.TemporaryDirectory() as workdir:
        config.num_epochs = epochs
        run.train_and_evaluate(config, workdir)
        rates = [r["perf/images_per_second"] for r in logs.read_metrics(workdir)[1:]]
    return statistics.median(rates)


def epoch_runner(config, dataset, members: list):
    """A jitted epoch of `members` (configs of one static signature) ready to time."""
    pop = population.Population("bench", tuple(members))
    setup = run.Setup(config, dataset)
    states, keys, hparams, _ = run.init_population(setup, pop, dataset)
    epoch_fn = jax.jit(train.make_train_epoch(
        setup.loss_fn, setup.tx, setup.schedule, batch_size=config.batch_size,
        dynamic_binarization=True, member_map=setup.member_map,
        grad_shards=config.grad_shards), donate_argnums=0)
    images = jax.device_put(dataset.train_images)
    data_key = streams.data_key(config.data_seed)
    state = {"states": states, "epoch": 0}

    def one_epoch() -> float:
        start = time.perf_counter()
        new, metrics = epoch_fn(state["states"], images, state["epoch"], data_key, keys.train,
                                hparams)
        jax.block_until_ready((new, metrics))
        state["states"], state["epoch"] = new, state["epoch"] + 1
        return time.perf_counter() - start

    with fast_threefry.unrolled_on_cpu(config.fast_threefry):  # as train_and_evaluate compiles
        one_epoch()  # compile
    return one_epoch, len(members) * setup.steps_per_epoch * config.batch_size


def measure_training(results: dict) -> None:
    config = mnist_config()
    dataset = data.load(config)
    bare_epoch, images = epoch_runner(config, dataset, [config])
    flat = dataset.train_images.reshape(len(dataset.train_images), -1).astype(np.float32) / 255
    rates = {"bare_scan": [], "real_path": [], "pytorch": [], "flax_example": [],
             "real_path_static": [], "flax_example_jitted": []}
    for _ in range(FLAGS.repeats):
        # Each ratio's two terms are timed back to back (the order below), and each ratio is
        # taken within a repeat before the median over repeats: this machine drifts by tens
        # of percent over minutes, and a slow spell should hit both terms of a ratio alike.
        rates["bare_scan"].append(images / statistics.median(bare_epoch() for _ in range(5)))
        # Medians of 5 epochs after the compiling one, for the real path and the bare scan alike.
        rates["real_path"].append(real_path_images_per_second(mnist_config(), epochs=6))
        try:
            rates["pytorch"].append(torch_images_per_second(flat, 400))
        except ImportError as e:
            results["pytorch_note"] = str(e)
        rates["flax_example"].append(flax_example_images_per_second(flat, 60))
        # The Flax example trains on binarized_mnist (one fixed draw): so does this one.
        rates["real_path_static"].append(real_path_images_per_second(
            mnist_config(dataset="binarized_mnist"), epochs=6))
        rates["flax_example_jitted"].append(
            flax_example_jitted_images_per_second(flat, 400))
    results.update({f"{k}_images_per_second": statistics.median(v) for k, v in rates.items() if v})
    results["per_repeat_images_per_second"] = rates  # to see the machine's drift

    def ratio(numerator: str, denominator: str) -> float:
        pairs = zip(rates[numerator], rates[denominator], strict=True)
        return statistics.median(a / b for a, b in pairs)

    results["vs_bare_scan"] = ratio("real_path", "bare_scan")
    results["vs_flax_example"] = ratio("real_path_static", "flax_example")
    results["vs_flax_example_jitted"] = ratio("real_path_static", "flax_example_jitted")
    results["vs_flax_example_dynamic"] = ratio("real_path", "flax_example")
    if rates["pytorch"]:
        results["vs_pytorch"] = ratio("real_path", "pytorch")


# ------------------------------------------------------------------------------------ host input
def measure_host(results: dict) -> None:
    """host_vs_device: the real path with the training set streamed from the host
    (--config.input=host) against the same run with it on the device, back to back."""
    rates = {"device": [], "host": []}
    for _ in range(FLAGS.repeats):
        for mode in rates:
            rates[mode].append(real_path_images_per_second(mnist_config(input=mode), epochs=4))
    results.update({f"input_{k}_images_per_second": statistics.median(v)
                    for k, v in rates.items()})
    results["host_vs_device_per_repeat"] = [
        h / d for h, d in zip(rates["host"], rates["device"], strict=True)]
    results["host_vs_device"] = statistics.median(results["host_vs_device_per_repeat"])


# ---------------------------------------------------------------------------------- grad_shards
def measure_grad_shards(results: dict) -> None:
    """grad_shards_{2,4,8}_vs_off: bare epochs of configs/vae.py (100 steps) with fixed-order
    gradients (train/grad_shards.py) against plain ones on one device, timed back to back."""
    config = mnist_config(num_train=12_800)
    dataset = data.load(config)
    runners = {}
    for shards in (0, 2, 4, 8):
        shard_config = mnist_config(num_train=12_800, grad_shards=shards)
        runners[shards] = epoch_runner(shard_config, dataset, [shard_config])
    rates = {shards: [] for shards in runners}
    for _ in range(FLAGS.repeats):
        for shards, (one_epoch, images) in runners.items():
            rates[shards].append(images / one_epoch())
    results["grad_shards_images_per_second"] = {
        str(shards): statistics.median(r) for shards, r in rates.items()}
    for shards in (2, 4, 8):
        results[f"grad_shards_{shards}_vs_off"] = statistics.median(
            a / b for a, b in zip(rates[shards], rates[0], strict=True))


# ------------------------------------------------------------------------------------ population
def _one_member(config, num_train: int):
    """`config` cut to its first sweep member on `num_train` images, no evaluation."""
    config.sweep_slice = f"0/{len(population.member_configs(config))}"
    config.update(num_train=num_train, num_test=1000, evals=(), final_evals=(),
                  figures=False, progress=False, data_dir=FLAGS.data_dir)
    return config


def measure_study(results: dict) -> None:
    """Images/s of one member of the Locatello et al. study config (conv, batch 64) and of the
    CPU study's MLP member, each on its own epochs after the compiling one."""
    study_images = 300_000 * 64 * 6 * 50 * len(study_locatello.MODELS)
    reference = []
    for model in FLAGS.study_models:
        for _ in range(FLAGS.repeats):
            # Few steps: the conv member runs at a few images/s on a 2-core CPU.
            rate = real_path_images_per_second(
                _one_member(study_locatello.get_config(model), 64 * FLAGS.study_steps), epochs=2)
            mlp = real_path_images_per_second(
                _one_member(disentanglement_config.get_config(), 256 * 20), epochs=2)
            results.setdefault(f"study_{model}_images_per_second_repeats", []).append(rate)
            reference.append(mlp)
        rate = statistics.median(results[f"study_{model}_images_per_second_repeats"])
        results[f"study_{model}_images_per_second"] = rate
        results[f"study_cpu_hours_{model}"] = study_images / rate / 3600
    results["study_reference_images_per_second"] = statistics.median(reference)


def measure_population(results: dict) -> None:
    betas = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 0.25, 3.0]
    train_sizes = {"mlp": 12_800, "conv": 3_840}  # about 2 s per member-epoch each, on 2 cores
    for architecture in FLAGS.architectures:
        suffix = "" if architecture == "mlp" else "_conv"
        num_train = FLAGS.population_num_train or train_sizes[architecture]
        config = mnist_config(architecture=architecture, num_train=num_train, num_test=1000,
                              member_map=FLAGS.member_map)
        dataset = data.load(config)
        for size in map(int, FLAGS.population_sizes):
            members = []
            for i in range(size):
                member = config.copy_and_resolve_references()
                member.beta, member.seed = betas[i % len(betas)], i // len(betas)
                members.append(member)
            together, images = epoch_runner(config, dataset, members)
            alone = [epoch_runner(config, dataset, [m])[0] for m in members]
            pop_times, seq_times = [], []
            for _ in range(FLAGS.repeats):
                pop_times.append(together())
                seq_times.append(sum(run_one() for run_one in alone))
            name = f"population_vs_sequential_n{size}{suffix}"
            results[name] = statistics.median(
                seq / pop for seq, pop in zip(seq_times, pop_times, strict=True))
            results[f"population_n{size}{suffix}_images_per_second"] = (
                images / statistics.median(pop_times))
            print(f"{name}: {results[name]:.2f}", flush=True)
        results[f"population_member_map{suffix}"] = train.resolve_member_map(
            FLAGS.member_map, architecture)


def main(argv):
    del argv
    results = {"backend": jax.default_backend(), "devices": len(jax.devices()),
               "cpu_count": os.cpu_count(), "repeats": FLAGS.repeats}
    groups = {"training": measure_training, "population": measure_population,
              "host": measure_host, "grad_shards": measure_grad_shards,
              "study": measure_study}
    if "nll" in FLAGS.only:
        from experiments import nll_benchmark  # noqa: PLC0415 - needs pythae only if asked

        groups["nll"] = lambda results: nll_benchmark.measure(
            results, FLAGS.data_dir, FLAGS.repeats, FLAGS.pythae_images, FLAGS.nll_test_images)
    for name in FLAGS.only:
        groups[name](results)
        print(json.dumps(results, indent=2), flush=True)
    if FLAGS.out:
        with open(FLAGS.out, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    run_command(main)
