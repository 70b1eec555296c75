"""Evaluators chosen by name in `config.evals`, run for every member of a population at once.

* In one jitted program over all members: `elbo` (recon, kl, nelbo per example, always on;
  with a discretised likelihood also `bpd`, and `nll_bpd` with `nll`),
  `nll` (importance-sampled -log p(x) with `config.nll_samples` samples) and `denoising`
  (PSNR of the corrupted and of the denoised test images, `config.corruption` at the
  member's `noise_level`), `codebook` (a VQ-VAE's codebook perplexity, fraction of entries
  used, and reconstruction mse on the test set).
* `anomaly`: ROC-AUC of recon error and of negative ELBO as scores separating the test images
  of the classes in `config.exclude_train_labels` (left out of training) from the others.
* On the members' codes (posterior means, or an AE's codes), computed in one jitted pass:
  `active_units`, `sparsity` (mean |code| and the fraction of near-zero units), `linear_probe`,
  `knn` (labelled datasets), `mig`, `sap`, `dci`, and with
  freshly rendered images `factor_vae`, `beta_vae` (datasets with known factors: sprites).
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from vae_jax import data, objectives, streams, train
from vae_jax.errors import ConfigError
from vae_jax.metrics import codebook, per_example
from vae_jax.train import mesh

JITTED = ("elbo", "nll", "denoising", "codebook")  # codebook: metrics/codebook.py
ON_LABELS = ("linear_probe", "knn")
ON_FACTORS = ("mig", "sap", "dci", "factor_vae", "beta_vae")
ON_CODES = ("active_units", "sparsity") + ON_LABELS + ON_FACTORS
ON_SCORES = ("anomaly",)
ALL = JITTED + ON_SCORES + ON_CODES
# Under dynamic binarisation the probes' training images are binarised once with this key (as
# the test set is with data.TEST_BINARIZATION_SEED): fitted and scored on the same kind of input.
PROBE_BINARIZATION_SEED = 20151102
# vae_jax.metrics.importance.MODELS, named here so validating a config does not load sklearn.
DCI_IMPORTANCE_MODELS = ("gradient_boosting", "hist_gradient_boosting", "random_forest")
# The models `nll` applies to.
LIKELIHOOD_MODELS = ("vae", "vamp_vae", "two_layer_vae", "ladder_vae")


def missing_data(name: str, dataset_name: str, labels: bool | None,
                 factors: bool | None) -> str | None:
    """Why evaluator `name` cannot run on a dataset that has labels / factors (False: it has
    none; None: not known yet), or None. One rule, judged twice: on the dataset's name before
    anything is loaded (validation_members) and on the loaded data (`validate`) for the
    datasets whose content only loading tells (arrays, tfds:<name>, image_folder)."""
    where = f"evaluator {name!r} (config.evals / final_evals)"
    if name in ON_LABELS and labels is False:
        return f"{where} needs labels; dataset {dataset_name!r} has none"
    if name in ON_FACTORS and factors is False:
        return (f"{where} needs ground-truth factors (dataset=sprites, or arrays with "
                f"train_factors/test_factors); {dataset_name!r} has none")
    return None


def validate(config, dataset: data.Dataset, final: bool = False) -> tuple[str, ...]:
    """The evaluators to run (`config.evals`, plus `config.final_evals` for the last
    evaluation when `final`). Their names and what they need of the config were checked by
    the validation pass (validation_members); here only what the loaded data tells."""
    names = tuple(config.evals)
    if final:
        names += tuple(n for n in config.final_evals if n not in names)
    for name in names:
        problem = missing_data(name, dataset.name, dataset.test_labels is not None,
                               dataset.test_factors is not None)
        if problem:
            raise ConfigError(problem)
    return names


def make_jitted_eval(setup, names: tuple[str, ...], batch_sharding=None):
    """-> eval_fn(params [M,...], eval_keys [M], hparams [M], images [N,...]) -> per-example
    scores {'recon': [M, N], 'kl', 'nelbo' (VAE), 'nll', 'psnr_noisy', 'psnr_denoised' (if
    asked)}; `summarize` averages them. `batch_sharding` (a mesh's P("data")) splits each
    chunk of images over the data devices (under grad_shards: whole chunks per device)."""
    config = setup.config
    batch_sharding, over_images = _chunks_over_devices(config, batch_sharding)
    terms = _on_sharded_chunks(
        per_example.make_elbo_terms(setup.model, setup.log_likelihood, config.model),
        batch_sharding)
    nll = (_on_sharded_chunks(per_example.make_nll(
        setup.model, setup.log_likelihood, config.nll_samples, config.nll_chunk),
        batch_sharding) if "nll" in names else None)
    noise_key = streams.denoising_key(config.data_seed)

    def one_member(params, key, hparams, images):
        # Each evaluator that draws gets its own key: chunk c of both would otherwise fold c
        # into the same key (and split(k, n)[i] == fold_in(k, i) ties their draws together).
        elbo_key, nll_key = jax.random.split(key)
        del key
        scores = over_images(terms, params, images, elbo_key, config.eval_batch_size)
        if nll is not None:
            # Fewer images at a time: each carries nll_chunk decoded samples.
            scores |= over_images(nll, params, images, nll_key, config.nll_batch_size)
        if "denoising" in names:
            denoise = _on_sharded_chunks(per_example.make_denoising_psnr(
                setup.model, config.corruption, hparams.noise_level, setup.mean_image),
                batch_sharding)
            scores |= over_images(denoise, params, images, jax.random.clone(noise_key),
                                  config.eval_batch_size)
        if config.likelihood in objectives.DISCRETIZED:  # bits per dimension: eval/bpd, nll_bpd
            scores |= {f"{k}_bpd" if k == "nll" else "bpd": objectives.bits_per_dim(
                scores[k], setup.model.image_shape) for k in ("nelbo", "nll") if k in scores}
        if "codebook" in names:  # whole-test-set usage counts [K], and the per-example mse
            usage = over_images(codebook.make_usage(setup.model, config.codebook_size,
                                                     setup.mean_image),
                                params, images, None, config.eval_batch_size)
            scores |= dict(mse=usage["mse"], code_counts=usage["code_counts"].sum(axis=0))
        return {k: v for k, v in scores.items() if v.ndim == 1}  # codes stay on device

    def eval_fn(params, eval_keys, hparams, images):
        return train.map_members(one_member, setup.member_map, (images,))(
            params, eval_keys, hparams)

    return eval_fn


def summarize(names, scores: dict[str, np.ndarray], dataset: data.Dataset,
              excluded_labels) -> dict[str, np.ndarray]:
    """{'eval/<metric>': [M]}: means of the per-example `scores` [M, N] and, for `anomaly`,
    ROC-AUC of `recon` and `nelbo` (when present) as anomaly scores, per member."""
    scores = dict(scores)
    counts = scores.pop("code_counts", None)  # totals, not per-example values
    out = {f"eval/{k}": v.mean(axis=-1) for k, v in scores.items()}
    if counts is not None:
        out |= codebook.usage_metrics(counts)
    if "anomaly" in names:
        from vae_jax.metrics import probes  # lazy: scikit-learn loads in ~1 s

        is_anomaly = np.isin(dataset.test_labels, tuple(excluded_labels))
        for k in ("recon", "nelbo"):
            if k in scores:
                out[f"eval/anomaly_auc_{k}"] = np.array(
                    [probes.roc_auc(member, is_anomaly) for member in scores[k]])
    return out


def probe_train_images(dataset: data.Dataset, config) -> np.ndarray:
    """The first `config.probe_train_size` training images, as the probes' fitting set: binary
    like the test images they are scored on. Static binarisation and `none` keep the training
    images as loaded (already binary, or grey like the test set); dynamic binarisation draws one
    fixed sample of them (PROBE_BINARIZATION_SEED, the same in every run)."""
    images = dataset.train_images[: config.probe_train_size]
    if config.binarization == "dynamic" and config.dataset != "binarized_mnist":
        images = data.binarize(images, PROBE_BINARIZATION_SEED)
    return images


def _chunks_over_devices(config, batch_sharding):
    """(batch_sharding, over_images) of an evaluation: each chunk split over the data devices,
    or, under grad_shards, whole chunks per device (`per_example.over_images`' mesh), so
    that evaluation too gives the same bits on any number of devices."""
    if batch_sharding is None or not config.get("grad_shards", 0):
        return batch_sharding, per_example.over_images
    return None, functools.partial(per_example.over_images, mesh=batch_sharding.mesh)


def _on_sharded_chunks(fn, batch_sharding):
    """A per-example evaluator whose chunk of images is split over the data devices."""
    if batch_sharding is None:
        return fn
    return lambda params, x, key: fn(params, mesh.constrain_batch(x, batch_sharding), key)


def make_population_encoder(setup, batch_sharding=None):
    """-> encode(params [M,...], images uint8 [N,...]) -> codes [M, N, latents]."""
    batch_sharding, over_images = _chunks_over_devices(setup.config, batch_sharding)
    codes = _on_sharded_chunks(per_example.make_codes(setup.model), batch_sharding)

    def codes_of(params, images):
        return over_images(codes, params, images, None, setup.config.eval_batch_size)["code"]

    def encode(params, images):
        return train.map_members(codes_of, setup.member_map, (images,))(params)

    return encode


def keys_for_epoch(eval_keys, epoch: int):
    """Per member, a fresh key for evaluation `epoch` (the same in every run of the config)."""
    return jax.vmap(lambda k: jax.random.fold_in(k, epoch))(eval_keys)


def code_metrics(names, member_codes: dict[str, np.ndarray], dataset: data.Dataset,
                 encode_images, config) -> dict[str, float | str]:
    """Metrics of one member from its codes {'train': [N, L], 'test': [N, L]}, and with `dci`
    the label 'dci_importance_model' (config.dci_importance_model).

    `encode_images(uint8 images) -> codes` encodes freshly rendered images (FactorVAE/BetaVAE).
    """
    from vae_jax.metrics import disentanglement, probes
    from vae_jax.objectives import penalties  # lazy: scikit-learn loads in ~1 s

    test, train_codes = member_codes["test"], member_codes.get("train")
    out = {}
    if "active_units" in names:
        out["eval/active_units"] = float(probes.active_units(test))
    if "sparsity" in names:
        out |= {f"eval/{k}": float(v) for k, v in penalties.activation_stats(test).items()}
    if "linear_probe" in names:
        out["eval/linear_probe"] = probes.linear_probe_accuracy(
            train_codes, dataset.train_labels[: len(train_codes)], test, dataset.test_labels)
    if "knn" in names:
        out["eval/knn"] = probes.knn_accuracy(
            train_codes, dataset.train_labels[: len(train_codes)], test, dataset.test_labels)
    factors = dataset.test_factors
    if "mig" in names:
        out["eval/mig"] = disentanglement.mig(test, factors)
    if "sap" in names:
        out["eval/sap"] = disentanglement.sap(test, factors)
    if "dci" in names:
        scores = disentanglement.dci(test, factors, importance_model=config.dci_importance_model)
        out |= {f"eval/dci_{k}": v for k, v in scores.items()}
    if "factor_vae" in names or "beta_vae" in names:
        from vae_jax.data import sprites  # the one that renders: validation_members

        ground_truth = sprites.SpritesFactors()
        rng = streams.factor_votes_rng(config.data_seed)  # not the dataset's own stream
        encode_fn = lambda images: encode_images(images)  # noqa: E731
        if "factor_vae" in names:
            out["eval/factor_vae"] = disentanglement.factor_vae_score(
                encode_fn, ground_truth, rng, num_train=config.disentanglement_votes,
                num_eval=config.disentanglement_votes // 2,
                num_variance_estimate=config.disentanglement_votes)
        if "beta_vae" in names:
            out["eval/beta_vae"] = disentanglement.beta_vae_score(
                encode_fn, ground_truth, rng, num_train=config.disentanglement_votes,
                num_eval=config.disentanglement_votes // 2)
    out = {k: float(v) for k, v in out.items()}
    if "dci" in names:  # a label, not a metric: which importance model the DCI scores used
        out["dci_importance_model"] = config.dci_importance_model
    return out
