"""Device check: the (members x data) mesh's exactness and speed on whatever devices are present.

Command:  python experiments/device_check.py --out device_check.json            (a GPU / TPU host)
          JAX_NUM_CPU_DEVICES=4 python experiments/device_check.py --quick --out /tmp/dc.json
          (MNIST from $VAE_JAX_DATA_DIR or --data_dir)
Runtime:  --quick on 4 simulated CPU devices of the 2-core development machine: ~2.5 CPU-minutes
          (exactness 64 s, throughput 74 s of user time; 9-10 min of wall time each while the
          machine ran ~25 other jobs). Without --quick (configs/vae.py's MLP VAE on MNIST,
          k = 1000 NLL) meant for a GPU / TPU host: not yet run on one.

What it writes (one JSON): the devices; `exactness`: final parameters (max |a - b| / max |ref|
over the leaves) and eval/nelbo of
* a lone model data-parallel over 2, 4, ... devices against the same run on one device,
* a 4-member population sharded one member per device, and members x data, against the same
  population on one device mapped member by member (which equals each member trained alone);
* with fixed-order gradients (grad_shards=4, train/grad_shards.py), a lone model over 2 and 4
  data devices against one device: `params_bitwise` and `metrics_bitwise` (every train/ and
  eval/ value of every epoch) should both be true;
`throughput`: images/s of the real training path (run.train_and_evaluate, last epoch, compile
excluded) on one device and data-parallel on all, a population of 8 MLP members vmapped over
all devices against one member trained after another, and the importance-sampled NLL's test
images/s on one device and on all. Results go to docs/performance.md.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import jax
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import vae_jax  # noqa: E402
from configs import test as test_config  # noqa: E402
from configs import vae as vae_config  # noqa: E402
from vae_jax import data, run  # noqa: E402
from vae_jax.cli import command  # noqa: E402
from vae_jax.metrics import evaluators  # noqa: E402
from vae_jax.report import logs  # noqa: E402
from vae_jax.train import mesh as mesh_lib  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "JSON file for the results.")
flags.DEFINE_string("data_dir", "", "IDX folder (default $VAE_JAX_DATA_DIR).")
flags.DEFINE_bool("quick", False, "Small models and data (CPU); otherwise configs/vae.py sizes.")
flags.DEFINE_list("exactness", ["data_parallel", "population", "fixed_order"],
                  "Which exactness checks to run (each trains its own 1-device reference).")
flags.DEFINE_list("only", ["exactness", "throughput"], "Which groups to run.")
flags.mark_flags_as_required(["out"])


def _config(base, **overrides):
    config = base.get_config()
    config.data_dir = FLAGS.data_dir
    config.figures = False
    config.progress = False
    config.update(overrides)
    return config


def _train(config, mesh_members: int, mesh_data: int, member_map: str = "auto"):
    """(final params as numpy, {(member, epoch): eval/nelbo}, last epoch's images/s,
    {(member, epoch): {name: value}} of the train/ and eval/ metrics)."""
    config = config.copy_and_resolve_references()
    config.mesh_members, config.mesh_data, config.member_map = mesh_members, mesh_data, member_map
    with tempfile.TemporaryDirectory() as workdir:
        run.train_and_evaluate(config, workdir)
        finished = vae_jax.load_run(workdir)
        params = jax.tree.map(lambda *members: np.stack(members), *(  # stacked, as trained
            finished.member(i).params for i in range(finished.num_members)))
        records = logs.read_metrics(workdir)
    nelbo = {(r["member"], r["epoch"]): r["eval/nelbo"] for r in records}
    metrics = {(r["member"], r["epoch"]): {k: v for k, v in r.items()
                                           if k.startswith(("train/", "eval/"))}
               for r in records}
    return params, nelbo, records[-1]["perf/images_per_second"], metrics


def _compare(run_a, reference) -> dict:
    (params, nelbo, _, metrics), (params_ref, nelbo_ref, _, metrics_ref) = run_a, reference
    diffs = [float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))
             for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(params_ref), strict=True)]
    bitwise = all(np.array_equal(a, b) for a, b in
                  zip(jax.tree.leaves(params), jax.tree.leaves(params_ref), strict=True))
    return {"params_max_rel_diff": max(diffs), "params_bitwise": bitwise,
            "eval_nelbo_max_abs_diff": max(abs(nelbo[k] - nelbo_ref[k]) for k in nelbo_ref),
            "metrics_bitwise": metrics == metrics_ref}


def exactness(devices: int) -> dict:
    steps = dict(num_train=1280, num_epochs=5) if FLAGS.quick else dict(num_train=12800,
                                                                         num_epochs=3)
    lone = _config(test_config, **steps)  # 100 / 300 Adam steps of batch 64
    out = {"lone_steps": steps["num_train"] // lone.batch_size * steps["num_epochs"]}
    if "data_parallel" in FLAGS.exactness:
        reference = _train(lone, 1, 1)
        for data_devices in (d for d in (2, 4, 8) if d <= devices):
            out[f"data_parallel_{data_devices}_vs_1"] = _compare(
                _train(lone, 1, data_devices), reference)
    if devices >= 2 and "population" in FLAGS.exactness:
        population = _config(test_config, **steps)
        population.sweep.seed = (0, 1, 2, 3)
        members_reference = _train(population, 1, 1, "map")
        one_per_device = min(4, devices)
        out[f"population_4_members_{one_per_device}x1_vs_1"] = _compare(
            _train(population, one_per_device, 1), members_reference)
        if devices >= 4:
            out[f"population_4_members_2x{devices // 2}_vs_1"] = _compare(
                _train(population, 2, devices // 2), members_reference)
    if devices >= 2 and "fixed_order" in FLAGS.exactness:
        fixed = _config(test_config, grad_shards=4, **steps)
        fixed_reference = _train(fixed, 1, 1)
        for data_devices in (d for d in (2, 4) if d <= devices):
            out[f"fixed_order_{data_devices}_vs_1"] = _compare(_train(fixed, 1, data_devices),
                                                               fixed_reference)
    return out


def _nll_images_per_second(config, dataset, mesh_data: int, repeats: int = 2) -> float:
    config = config.copy_and_resolve_references()
    config.mesh_data, config.member_map = mesh_data, "vmap"
    population = run.population_lib.split(config)[0]
    setup = run.Setup(population.static_config, dataset)
    states, keys, hparams, mesh = run.init_population(setup, population, dataset)
    eval_fn = mesh_lib.jit(evaluators.make_jitted_eval(setup, ("elbo", "nll"),
                                                       mesh_lib.sharding(mesh, "data")),
                           mesh, jax.sharding.PartitionSpec())
    images = mesh_lib.replicate(dataset.test_images, mesh)
    jax.block_until_ready(eval_fn(states.params, keys.eval, hparams, images))  # compiles
    start = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(eval_fn(states.params, keys.eval, hparams, images))
    return repeats * len(dataset.test_images) / (time.perf_counter() - start)


def throughput(devices: int) -> dict:
    size = dict(num_train=12800, num_test=1000) if FLAGS.quick else {}
    mlp = _config(vae_config, num_epochs=2, **size)
    one = _train(mlp, 1, 1)[2]
    out = {"train_images_per_second_1_device": one}
    if devices > 1:
        every = _train(mlp, 1, devices)[2]
        out |= {f"train_images_per_second_{devices}_devices_data_parallel": every,
                "data_parallel_speedup": every / one}
    population = mlp.copy_and_resolve_references()
    population.sweep.beta = tuple(1.0 + i / 8 for i in range(8))
    vmapped = _train(population, 0, 0, "vmap")[2]  # members over all devices
    out |= {"population_8_mlp_vmap_images_per_second": vmapped,
            "population_8_mlp_vs_sequential": vmapped / one}
    nll = _config(vae_config, num_test=200 if FLAGS.quick else 1000,
                  nll_samples=100 if FLAGS.quick else 1000, num_train=1000)
    dataset = data.load(nll)
    out["nll_k"] = nll.nll_samples
    out["nll_images_per_second_1_device"] = _nll_images_per_second(nll, dataset, 1)
    if devices > 1:
        out[f"nll_images_per_second_{devices}_devices"] = _nll_images_per_second(
            nll, dataset, devices)
    return out


@command
def main(argv):
    del argv
    devices = jax.device_count()
    results = {"backend": jax.default_backend(), "devices": devices,
               "device_kind": jax.devices()[0].device_kind, "quick": FLAGS.quick,
               "jax": jax.__version__}
    start = time.perf_counter()
    if "exactness" in FLAGS.only:
        results["exactness"] = exactness(devices)
    if "throughput" in FLAGS.only:
        results["throughput"] = throughput(devices)
    results["seconds"] = time.perf_counter() - start
    with open(FLAGS.out, "w") as f:
        json.dump(results, f, indent=2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    app.run(main)
