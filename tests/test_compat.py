"""The adapters to other libraries' internals fail with a clear message, not a traceback."""

import types

import pytest

from vae_jax.compat import jax as compat_jax
from vae_jax.compat import orbax as compat_orbax
from vae_jax.compat import sklearn as compat_sklearn
from vae_jax.errors import CheckpointError


def test_sklearn_without_the_trees_says_which_version_and_what_to_use():
    message = r"scikit-learn \(1.*Use dci_importance_model=gradient_boosting"
    with pytest.raises(RuntimeError, match=message):
        compat_sklearn.split_gains(types.SimpleNamespace(), 3)


def test_orbax_without_the_helpers_says_which_version(monkeypatch, tmp_path):
    (tmp_path / "_METADATA").write_text('{"use_ocdbt": true}')
    options = compat_orbax.storage_options(str(tmp_path))
    monkeypatch.setattr(compat_orbax.ocp, "type_handlers", types.SimpleNamespace())
    with pytest.raises(CheckpointError, match="orbax-checkpoint .* tested with"):
        compat_orbax.read_spec(str(tmp_path), "params.w", options)


def test_orbax_step_without_metadata_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no readable orbax metadata"):
        compat_orbax.storage_options(str(tmp_path))


def test_jax_coordination_client_outside_a_multi_process_job_says_so():
    with pytest.raises(compat_jax.JaxInternalsError, match="not initialised"):
        compat_jax.coordination_client()


def test_jax_threefry_rules_are_there_in_the_pinned_jax():
    primitive, unrolled, rolled = compat_jax.threefry_cpu_rules()
    assert primitive.name == "threefry2x32" and unrolled is not rolled
