"""No two random streams of a run share bits (docs/design.md, "Keys").

jax's partitionable threefry has `split(k, n)[i] == fold_in(k, i)`, so two roots built from
equal seeds collide unless each folds in its own purpose tag first (vae_jax/streams.py), and
jax_debug_key_reuse cannot see it: the keys are equal values derived separately. Here every
key the package derives in a short run is recorded as it is made (jax.random.key / fold_in /
split called from vae_jax code, traced or not: a debug callback reports the values), with its
derivation (parent, operation, argument, the line that made it). A value reached by two
derivations is two purposes sharing bits. The run is the collision-prone case: a population
with seed == data_seed (members 0 and 1, data_seed 0), several epochs, every evaluator that
draws (elbo, nll, denoising, FactorVAE / BetaVAE on fresh samples), figures, and the API's
sample. The numpy generators seeded in vae_jax are recorded likewise (two lines seeding
the same stream share it: the fresh disentanglement votes must not replay the training
factors).
"""

import collections
import pathlib
import sys

import jax
import numpy as np
import pytest

import vae_jax
from configs import test as test_config
from vae_jax import api, run, streams

PACKAGE = pathlib.Path(vae_jax.__file__).resolve().parent


def _site(depth: int = 2) -> str | None:
    """'file:line' of the vae_jax code that called the wrapped function, or None."""
    frame = sys._getframe(depth)
    path = pathlib.Path(frame.f_code.co_filename).resolve()
    if PACKAGE not in path.parents:
        return None  # flax's own folds, jax's internals, this test
    return f"{path.relative_to(PACKAGE)}:{frame.f_lineno}"


class Recorder:
    """Every derived key: raw key data -> the set of derivations that produced it."""

    def __init__(self):
        self.keys = collections.defaultdict(set)
        self.numpy = collections.defaultdict(set)  # initial generator state -> seeding lines

    def add(self, value, derivation):
        self.keys[np.asarray(value).tobytes()].add(derivation)

    def install(self, monkeypatch):
        key, fold_in, split = jax.random.key, jax.random.fold_in, jax.random.split
        default_rng = np.random.default_rng

        def recording_key(seed, *args, **kwargs):
            out = key(seed, *args, **kwargs)
            if _site() is not None:  # a root: the same seed gives the same root anywhere
                jax.debug.callback(lambda s, v: self.add(v, ("key", int(s))), seed,
                                   jax.random.key_data(out))
            return out

        def recording_fold_in(parent, data):
            out = fold_in(parent, data)
            site = _site()
            if site is not None:
                jax.debug.callback(
                    lambda p, d, v: self.add(v, ("fold_in", p.tobytes(), int(d), site)),
                    jax.random.key_data(parent), data, jax.random.key_data(out))
            return out

        def recording_split(parent, num=2):
            out = split(parent, num)
            site = _site()
            if site is not None:
                def record(p, children):
                    for i, child in enumerate(children):
                        self.add(child, ("split", p.tobytes(), int(num), i, site))

                jax.debug.callback(record, jax.random.key_data(parent), jax.random.key_data(out))
            return out

        def recording_default_rng(seed=None):
            rng = default_rng(seed)
            site = _site()
            if site is not None and not isinstance(seed, np.random.Generator):
                self.numpy[repr(rng.bit_generator.state["state"])].add(site)
            return rng

        monkeypatch.setattr(jax.random, "key", recording_key)
        monkeypatch.setattr(jax.random, "fold_in", recording_fold_in)
        monkeypatch.setattr(jax.random, "split", recording_split)
        monkeypatch.setattr(np.random, "default_rng", recording_default_rng)


def _short_population_run(workdir):
    config = test_config.get_config()
    config.update(dataset="sprites", num_train=64, num_test=32, batch_size=16, num_epochs=3,
                  hidden=(32,), latents=3, seed=0, data_seed=0, grad_shards=2,
                  corruption="gaussian", noise_level=0.2, eval_batch_size=16,
                  evals=("elbo", "denoising", "factor_vae", "beta_vae"), final_evals=("nll",),
                  nll_samples=4, nll_chunk=2, nll_batch_size=16, disentanglement_votes=4,
                  figures=True)
    config.sweep.seed = (0, 1)
    run.train_and_evaluate(config, str(workdir))
    member = api.load_run(str(workdir)).member(1)
    member.sample(4, seed=0)
    member.evaluate("elbo")  # the run's last evaluation again: the same derivations
    return config


@pytest.mark.slow
def test_no_two_derivations_of_a_short_population_run_give_the_same_key(tmp_path, monkeypatch):
    recorder = Recorder()
    recorder.install(monkeypatch)
    jax.clear_caches()  # programs traced before the recorder was installed would not report
    config = _short_population_run(tmp_path)
    jax.effects_barrier()

    shared = [sorted(map(str, how)) for how in recorder.keys.values() if len(how) > 1]
    shared_numpy = [sorted(sites) for sites in recorder.numpy.values() if len(sites) > 1]
    assert not shared and not shared_numpy, (
        f"{len(shared)} of {len(recorder.keys)} key values reached by several derivations, "
        f"e.g. {shared[:1]}; numpy streams seeded alike at {shared_numpy}")

    # The enumeration is not vacuous: every stream of the run reported its keys.
    sites = collections.Counter(how[-1].split(":")[0] for hows in recorder.keys.values()
                                for how in hows if how[0] != "key")
    steps = config.num_epochs * (config.num_train // config.batch_size)
    members = len(config.sweep.seed)
    # step keys and grad-shard group keys of every member and step, binarisation keys,
    # create_state's split of the init keys
    assert sites["train/step.py"] >= members * steps + steps + 2 * members
    assert sites["train/grad_shards.py"] >= members * steps * config.grad_shards
    assert sites["metrics/per_example.py"] > 0  # evaluation chunks, importance-sample chunks
    assert sites["metrics/evaluators.py"] > 0  # per-epoch evaluation keys, elbo / nll split
    assert sites["streams.py"] > 0
    numpy_sites = {site.split(":")[0] for sites in recorder.numpy.values() for site in sites}
    assert {"data/sprites.py", "streams.py"} <= numpy_sites


def test_each_root_folds_in_its_own_tag():
    assert len(set(streams.TAGS.values())) == len(streams.TAGS)
    seed = 0
    roots = [streams.member_keys(seed).init, streams.member_keys(seed).train,
             streams.member_keys(seed).eval, streams.member_keys(seed).sample,
             streams.data_key(seed), streams.denoising_key(seed), streams.api_sample_key(seed),
             streams.api_pixel_key(seed)]
    roots += list(streams.epoch_keys(streams.data_key(seed), 0))
    bits = {np.asarray(jax.random.key_data(k)).tobytes() for k in roots}
    assert len(bits) == len(roots)
