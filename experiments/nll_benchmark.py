"""Speed of the importance-sampled likelihood (k = 5000) against pythae's `get_nll`.

Used by `experiments/throughput.py` (group `nll`); keys written to its JSON:
* nll_images_per_second: vae_jax's `eval/nll` path (evaluators.make_jitted_eval with
  evals=("nll",), exactly what a run executes) over the whole MNIST test set in one call.
* pythae_nll_images_per_second: pythae 0.1.2 `VAE.get_nll` on the same architecture.
* nll_vs_pythae: the ratio (target >= 3).
* nll_ceiling_images_per_second: the decoder's two matmuls alone for k samples per image,
  timed in the same run: no sampling, no likelihood, no log-sum-exp. An upper bound on any
  implementation of the estimator on this machine; nll_fraction_of_ceiling is our share of it.
Model: the Flax example's MLP 784-500-20 (configs/vae.py), untrained: the cost does not
depend on the weights.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from experiments.baselines.pythae_nll import pythae_nll_images_per_second
from vae_jax import data, run
from vae_jax.metrics import evaluators
from vae_jax.train import population


def ours_images_per_second(config, dataset, repeats: int) -> float:
    """Images/s of the run's jitted NLL evaluator over `dataset.test_images` (median).

    One repeat over the 10,000 test images takes minutes on 2 cores and is itself steady.
    """
    config.evals = ("nll",)
    setup = run.Setup(config, dataset)
    pop = population.Population("bench", (config,))
    states, keys, hparams, _ = run.init_population(setup, pop, dataset)
    eval_fn = jax.jit(evaluators.make_jitted_eval(setup, evaluators.validate(config, dataset)))
    images = jax.device_put(dataset.test_images)
    eval_keys = evaluators.keys_for_epoch(keys.eval, 0)
    jax.block_until_ready(eval_fn(states.params, eval_keys, hparams, images[:100]))  # compile once
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(eval_fn(states.params, eval_keys, hparams, images))
        times.append(time.perf_counter() - start)
        if not np.all(np.isfinite(out["nll"])):
            raise FloatingPointError("eval/nll is not finite")
    return len(images) / statistics.median(times)


def ceiling_images_per_second(config, num_samples: int, repeats: int) -> float:
    """Images/s of the decoder's matmuls alone ([k, latents] @ [latents, hidden] then
    [k, hidden] @ [hidden, 784]) for k = num_samples samples of one image at a time."""
    hidden, latents = config.hidden[-1], config.latents
    keys = jax.random.split(jax.random.key(0), 3)
    w1 = jax.random.normal(keys[0], (latents, hidden)) * 0.1
    w2 = jax.random.normal(keys[1], (hidden, 784)) * 0.1
    z = jax.random.normal(keys[2], (num_samples, latents))
    images = 50

    @jax.jit
    def decode_many(z):
        def one(_, i):
            h = jnp.maximum((z + i) @ w1, 0.0)  # + i keeps XLA from hoisting the work out
            return None, (h @ w2).max()  # max, not sum: XLA would fold a sum into the dot
        return jax.lax.scan(one, None, jnp.arange(images, dtype=z.dtype))[1]

    jax.block_until_ready(decode_many(z))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(decode_many(z))
        times.append(time.perf_counter() - start)
    return images / statistics.median(times)


def measure(results: dict, data_dir: str = "", repeats: int = 3, pythae_images: int = 20,
            num_test: int = 0, ours_repeats: int = 1) -> None:
    from configs import vae as vae_config  # noqa: PLC0415 - repo-root import, as in throughput

    config = vae_config.get_config()
    config.data_dir, config.num_train, config.num_test = data_dir, 1000, num_test
    dataset = data.load(config)
    k = config.nll_samples
    ours = ours_images_per_second(config, dataset, ours_repeats)
    ceiling = ceiling_images_per_second(config, k, repeats)
    results.update(nll_samples=k, nll_test_images=len(dataset.test_images),
                   nll_images_per_second=ours, nll_ceiling_images_per_second=ceiling,
                   nll_fraction_of_ceiling=ours / ceiling)
    flat = dataset.test_images.reshape(len(dataset.test_images), -1) / 255.0
    try:
        theirs = statistics.median(pythae_nll_images_per_second(flat, pythae_images, k=k)
                                   for _ in range(repeats))
    except ImportError as e:
        results["pythae_note"] = str(e)
        return
    results["pythae_nll_images_per_second"] = theirs
    results["nll_vs_pythae"] = ours / theirs
