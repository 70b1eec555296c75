"""The roots of every random stream of a run: each root folds in its own purpose tag first.

With jax's partitionable threefry (the default of the pinned jax) `split(k, n)[i] ==
fold_in(k, i)`, so two roots built from equal seeds (`seed` and `data_seed` are both 0 by
default, and every sweep has a seed-0 member) would share bits: the members' init key was the
data stream's epoch-0 key, their train key epoch 1's and the denoising evaluation's noise key.
`jax_debug_key_reuse` cannot see that (the keys are equal values derived separately). Here
every root is `fold_in(key(seed), TAG)` with a tag of its own, and only then split into
purpose-named keys, so no two purposes share bits for any `seed` / `data_seed`.

The tags are four ASCII bytes read as a uint32 ("memb", "data", ...): far from the small
indices (epochs, steps, chunks, positions of a split) that are folded in below a root.
tests/test_keys.py records every key a short population run derives and checks that no value
is reached by two derivations.

A top-level module, below every package (data/, train/, metrics/, report/ and the API all take
their roots here), and not named `keys`, which would shadow the `keys` variables of its users.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np


def _tag(name: bytes) -> int:
    return int.from_bytes(name, "big")


MEMBER = _tag(b"memb")  # key(seed): a member's init, train, eval and sample keys
DATA = _tag(b"data")  # key(data_seed): each epoch's permutation and binarisation
DENOISING = _tag(b"nois")  # key(data_seed): the `denoising` evaluator's corruption
API_SAMPLE = _tag(b"samp")  # key(seed) of `api.Member.sample(n, seed)`
API_PIXELS = _tag(b"pixs")  # key(seed): the pixels drawn by `Member.sample(pixels="sample")`
FACTOR_VOTES = _tag(b"vote")  # numpy, data_seed: disentanglement metrics' fresh samples
TAGS = dict(member=MEMBER, data=DATA, denoising=DENOISING, api_sample=API_SAMPLE,
            api_pixels=API_PIXELS, factor_votes=FACTOR_VOTES)


@dataclasses.dataclass(frozen=True)
class MemberKeys:
    """Purpose-named keys of one member (or, stacked, of a population), all from its seed."""

    init: jax.Array
    train: jax.Array
    eval: jax.Array
    sample: jax.Array


jax.tree_util.register_dataclass(MemberKeys, data_fields=["init", "train", "eval", "sample"],
                                 meta_fields=[])


def member_keys(seed: int | jax.Array) -> MemberKeys:
    """The member's keys: `split(fold_in(key(seed), MEMBER), 4)` into init, train (folded with
    the step), eval (folded with the epoch) and sample (figures)."""
    key = jax.random.fold_in(jax.random.key(seed), MEMBER)
    init_key, train_key, eval_key, sample_key = jax.random.split(key, 4)
    del key  # split once; only the named keys are used from here on
    return MemberKeys(init_key, train_key, eval_key, sample_key)


def data_key(data_seed: int) -> jax.Array:
    """The data stream shared by all members of a run: `fold_in(key(data_seed), DATA)`."""
    return jax.random.fold_in(jax.random.key(data_seed), DATA)


def epoch_keys(data_key: jax.Array, epoch) -> tuple[jax.Array, jax.Array]:
    """(perm_key, binarize_key) of `epoch`: the permutation of the training set, and the key
    that `fold_in(., step of the epoch)` makes each batch's binarisation key (device-resident
    and host-fed epochs alike)."""
    perm_key, binarize_key = jax.random.split(jax.random.fold_in(data_key, epoch))
    return perm_key, binarize_key


def denoising_key(data_seed: int) -> jax.Array:
    """The one key that corrupts the test images for the `denoising` evaluator, so every member
    and every evaluation sees the same noise pattern at a given noise level:
    `fold_in(key(data_seed), DENOISING)`."""
    return jax.random.fold_in(jax.random.key(data_seed), DENOISING)


def api_sample_key(seed: int) -> jax.Array:
    """The prior draws of `Member.sample(n, seed)`: `fold_in(key(seed), API_SAMPLE)`."""
    return jax.random.fold_in(jax.random.key(seed), API_SAMPLE)


def api_pixel_key(seed: int) -> jax.Array:
    """The likelihood draws of `Member.sample(n, seed, pixels="sample")`:
    `fold_in(key(seed), API_PIXELS)`; chunk c of them folds in c."""
    return jax.random.fold_in(jax.random.key(seed), API_PIXELS)


def factor_votes_rng(data_seed: int) -> np.random.Generator:
    """The numpy stream of the disentanglement metrics' freshly sampled factors (FactorVAE,
    BetaVAE), the same for every member and evaluation: seeded with `[FACTOR_VOTES, data_seed]`,
    never with `data_seed` alone, which seeds the dataset's own draws (sprites' factors)."""
    return np.random.default_rng([FACTOR_VOTES, data_seed])
