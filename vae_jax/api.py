"""A Python API for finished runs: open a workdir, pick a member, use and evaluate its model.

    import vae_jax
    run = vae_jax.load_run("/tmp/compare/vae")   # config.json + checkpoints + metrics.jsonl
    member = run.member(2)                       # reads member 2's parameters only
    codes = member.encode(images)                # posterior means (VAE) or codes (AE)
    pixels = member.decode(codes)                # the likelihood's mean image, in [0, 1]
    member.sample(16, seed=0), member.reconstruct(images)
    member.sample(16, seed=0, pixels="sample")   # pixels drawn from the likelihood too
    member.evaluate("elbo")                      # {'recon': ..., 'kl': ..., 'nelbo': ...}
    member.evaluate("nll", nll_samples=100)      # config fields overridable per call
    member.metrics()                             # the member's metrics.jsonl records

Everything is computed by the package's own functions (the model's encode/decode, the named
evaluators of metrics/evaluators.py) with the member's config as the run resolved it.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from vae_jax import checkpoints, data, models, streams, train, validation
from vae_jax import hparams as hparams_lib
from vae_jax import run as run_lib
from vae_jax.errors import ConfigError, DataError
from vae_jax.metrics import evaluators, per_example
from vae_jax.report import logs, member_figures
from vae_jax.train import population as population_lib


def load_run(workdir: str, data_dir: str | None = None) -> Run:
    """The finished (or interrupted) run in `workdir`. `data_dir` overrides where its dataset is
    read from, when the run's data has moved (needed by `evaluate` and to build the model)."""
    return Run(workdir, data_dir)


class Run:
    """A workdir's resolved config, its populations and their members."""

    def __init__(self, workdir: str, data_dir: str | None = None):
        self.workdir = workdir
        self.config = checkpoints.read_config(workdir)
        if data_dir is not None:
            self.config.data_dir = data_dir
        self.populations = {p.name: p for p in population_lib.split(self.config)}

    @property
    def num_members(self) -> int:
        """Members over all populations (a plain run: 1)."""
        return sum(p.size for p in self.populations.values())

    @functools.cached_property
    def dataset(self) -> data.Dataset:
        return data.load(self.config)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{name}: {p.size}" for name, p in self.populations.items())
        return f"Run({self.workdir!r}, {self.config.model}, members {{{sizes}}})"

    def member(self, index: int = 0, population: str = "main") -> Member:
        """Member `index` of `population`, its parameters from the latest checkpoint."""
        if population not in self.populations:
            raise ConfigError(f"{self.workdir} has no population {population!r}; it has "
                              f"{', '.join(self.populations)}")
        members = self.populations[population]
        if not 0 <= index < members.size:
            raise ConfigError(f"population {population!r} of {self.workdir} has members "
                              f"0..{members.size - 1}, not {index}")
        config = members.configs[index]
        setup = run_lib.Setup(config, self.dataset)
        params, epoch = _restore_params(
            setup, self.dataset.image_shape,
            os.path.join(self.workdir, "checkpoints", population), index)
        return Member(self, population, index, config, setup, params, epoch)


def _restore_params(setup, image_shape, directory: str, index: int):
    """(params of member `index`, epoch) from the latest checkpoint in `directory` (one
    population's), reading that member's arrays only: the one place a run's parameters are
    read back (Run.member)."""
    shapes = jax.eval_shape(lambda: train.create_state(  # shapes only: the key draws nothing
        jax.random.key(0), setup.model, setup.tx, image_shape, setup.output_bias).params)
    if not os.path.isdir(directory):
        raise checkpoints.CheckpointError(f"no checkpoints in {directory}: the run has not "
                                          "saved one yet, or the workdir is incomplete")
    checkpointer = checkpoints.Checkpointer(directory)
    try:
        epoch = checkpointer.latest_epoch()
        if epoch is None:
            raise checkpoints.CheckpointError(f"no complete checkpoint in {directory}")
        params = checkpointer.restore_member(epoch, index, shapes)
    finally:
        checkpointer.close()
    return jax.tree.map(jnp.asarray, params), epoch


class Member:
    """One trained member: its config, model and parameters, and what can be done with them."""

    def __init__(self, run: Run, population: str, index: int, config, setup, params, epoch: int):
        self.run, self.population, self.index = run, population, index
        self.config, self.params, self.epoch = config, params, epoch
        self._setup = setup

    def __repr__(self) -> str:
        return (f"Member({self.run.workdir!r}, population={self.population!r}, "
                f"index={self.index}, epoch={self.epoch}, {self.label})")

    @property
    def model(self):
        return self._setup.model

    @property
    def mean_image(self):
        """Decoder outputs -> the likelihood's mean image in [0, 1] (objectives.make_mean_image)."""
        return self._setup.mean_image

    @property
    def hparams(self) -> hparams_lib.Hparams:
        return hparams_lib.from_config(self.config)

    @property
    def label(self) -> dict:
        """Its Hparams and seed, as the logs name it."""
        return self.run.populations[self.population].member_labels()[self.index]

    # ------------------------------------------------------------------------------ the model
    @functools.cached_property
    def _decode(self):
        mean_image = self._setup.mean_image
        return jax.jit(lambda params, z: mean_image(
            self.model.apply({"params": params}, z, method="decode")))

    @functools.cached_property
    def _draw(self):
        sample_image = self._setup.sample_image

        def draw(params, z, key):
            logits = self.model.apply({"params": params}, z, method="decode")
            return sample_image(key, logits, params.get("x_logvar"))

        return jax.jit(draw)

    @functools.cached_property
    def _code_width(self) -> int:
        """What `encode` returns per image and `decode` reads: latents (a VQ-VAE's
        latents x code_dim)."""
        x = jax.ShapeDtypeStruct((1, *self.run.dataset.image_shape), jnp.float32)
        return jax.eval_shape(functools.partial(models.codes, self.model), self.params,
                              x).shape[-1]

    def encode(self, images) -> np.ndarray:
        """Posterior means (VAE) or codes (AE) [N, latents] of uint8 images [N, H, W, C] or of
        floats in [0, 1] (models.codes)."""
        x = self._nonempty(self._floats(images))
        return per_example.encode_images(self.model, self.params, x, self.config.eval_batch_size)

    def decode(self, z) -> np.ndarray:
        """The likelihood's mean images [N, H, W, C] in [0, 1] (objectives.make_mean_image:
        sigmoid of the logits for Bernoulli and Gaussian pixels, E[x] of a discretised
        logistic) of latents z [N, latents]."""
        z = self._latents(z)
        return self._chunked(lambda chunk: self._decode(self.params, chunk), z)

    def reconstruct(self, images) -> np.ndarray:
        """decode(encode(images)): the mean images of the posterior mean (or the AE code)."""
        return self.decode(self.encode(images))

    def sample(self, n: int, seed: int = 0, pixels: str = "mean") -> np.ndarray:
        """n images [N, H, W, C] in [0, 1] of latents drawn from the model's prior with `seed`:
        N(0, I), or a learned prior's own sampler (VampPrior, two stochastic layers, Ladder),
        as the samples figure draws them (for an AE, which has no prior, N(0, I) shows what its
        decoder makes of such codes). pixels="mean": their mean images, as `decode`;
        "sample": the pixels drawn from the likelihood too (objectives.make_sample_image)."""
        if pixels not in ("mean", "sample"):
            raise ConfigError(f"sample: pixels must be 'mean' or 'sample', got {pixels!r}")
        z = member_figures.prior_latents(self.model, self.params, streams.api_sample_key(seed),
                                         n)
        if z is None:
            raise ConfigError(f"model {self.config.model!r} has no prior to sample (a VQ-VAE's "
                            "codes need a separately trained prior); decode chosen codes instead")
        if pixels == "mean":
            return self.decode(z)
        z = self._latents(z)
        pixel_key = streams.api_pixel_key(seed)
        size = self.config.eval_batch_size
        return np.concatenate([  # each chunk its own pixel key
            np.asarray(self._draw(self.params, jnp.asarray(z[i:i + size]),
                                  jax.random.fold_in(pixel_key, i // size)))
            for i in range(0, len(z), size)])

    def _latents(self, z) -> np.ndarray:
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self._code_width:
            raise DataError(f"decode takes latents of shape [N, {self._code_width}], "
                            f"got {z.shape}")
        return self._nonempty(z)

    @staticmethod
    def _nonempty(x: np.ndarray) -> np.ndarray:
        if not len(x):
            raise DataError("no inputs: give at least one image or latent")
        return x

    def _chunked(self, fn, x: np.ndarray) -> np.ndarray:
        size = self.config.eval_batch_size
        return np.concatenate([np.asarray(fn(jnp.asarray(x[i:i + size])))
                               for i in range(0, len(x), size)])

    def _floats(self, images) -> np.ndarray:
        images = np.asarray(images)
        shape = self.run.dataset.image_shape
        if images.ndim != 4 or images.shape[1:] != shape:
            raise DataError(f"images must be [N, {', '.join(map(str, shape))}] like the run's "
                            f"{self.config.dataset} data, got {images.shape}")
        if images.dtype == np.uint8:
            return images.astype(np.float32) / 255.0
        if not np.issubdtype(images.dtype, np.floating):
            raise DataError(f"images must be uint8 or floats in [0, 1], got {images.dtype}")
        if images.size and (images.min() < 0 or images.max() > 1):
            raise DataError(f"float images must lie in [0, 1], got [{images.min()}, "
                            f"{images.max()}]; divide uint8 pixels by 255")
        return images.astype(np.float32)

    # ----------------------------------------------------------------------------- evaluation
    def evaluate(self, name: str, images=None, **overrides) -> dict[str, float]:
        """The named evaluator's means ('elbo' -> recon, kl, nelbo; 'nll' adds nll; ...) on the
        run's test set, or on `images` (uint8 [N, H, W, C]). `overrides` set config fields for
        this call (nll_samples=100, say). The evaluation key is the one the run used at its last
        evaluation, so evaluate("elbo") reproduces the logged eval/ values."""
        config = self.config.copy_and_resolve_references()
        for field, value in overrides.items():
            if field not in config:
                raise ConfigError(f"evaluate: {field!r} is not a config field")
            config[field] = value
        config.evals, config.final_evals = (name,), ()
        validation.check(config, log_warnings=False)  # the name, the overrides, the model
        dataset = self.run.dataset
        names = evaluators.validate(config, dataset)
        if images is None:
            images = dataset.test_images
        elif name in evaluators.ON_LABELS + evaluators.ON_FACTORS + evaluators.ON_SCORES:
            raise ConfigError(f"evaluator {name!r} needs the test set's labels or factors: "
                              "call evaluate without images")
        elif np.asarray(images).dtype != np.uint8:
            raise DataError("evaluate takes uint8 images (the datasets' format), got "
                            f"{np.asarray(images).dtype}; pass (images * 255).round()"
                            ".astype(np.uint8)")
        self._floats(images)  # checks the shape
        setup = run_lib.Setup(config, dataset)
        keys = jax.vmap(streams.member_keys)(
            jnp.asarray([int(config.seed)], jnp.uint32))  # this member as a population of one
        params = jax.tree.map(lambda a: a[None], self.params)
        images = jnp.asarray(images)
        out = {}
        if names[0] in evaluators.JITTED or names[0] in evaluators.ON_SCORES:
            eval_fn = jax.jit(evaluators.make_jitted_eval(setup, names))
            scores = jax.device_get(eval_fn(
                params, evaluators.keys_for_epoch(keys.eval, self.epoch),
                train.stack_members([hparams_lib.from_config(config)]), images))
            means = evaluators.summarize(names, scores, dataset, config.exclude_train_labels)
            out = {k: float(v[0]) for k, v in means.items()}
        else:
            # The run's own encoder and probe images (binarised once under dynamic
            # binarisation), so the logged value is reproduced exactly.
            encode = jax.jit(evaluators.make_population_encoder(setup))
            codes = {"test": np.asarray(encode(params, images))[0]}
            if name in evaluators.ON_LABELS:
                probe_images = jnp.asarray(evaluators.probe_train_images(dataset, config))
                codes["train"] = np.asarray(encode(params, probe_images))[0]
            out = evaluators.code_metrics(
                names, codes, dataset,
                lambda x: per_example.encode_images(self.model, self.params, x), config)
        return {k.removeprefix("eval/"): v for k, v in out.items()}

    def metrics(self) -> list[dict]:
        """The member's records in the run's metrics.jsonl, one per logged epoch."""
        return [r for r in logs.read_metrics(self.run.workdir)
                if r.get("population") == self.population and r.get("member") == self.index]
