"""Checkpoints (orbax) and the resolved config a workdir was made with.

A workdir belongs to one config: `config.json` is written on the first run, and a later run in
the same workdir must agree with it on every field that shapes the run (it may only change how
often it logs, or extend `num_epochs` when the learning-rate schedule is not shaped by it).
Checkpoints are written by orbax in the background while the next epoch trains, one per saved
epoch, each finalised atomically (a temporary directory renamed when complete).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
import tensorstore as ts
from absl import logging

from vae_jax.compat import orbax as compat_orbax
from vae_jax.defaults import base_config
from vae_jax.errors import CheckpointError, UserError
from vae_jax.train.schedules import SHAPED_BY_NUM_EPOCHS

# Fields a resumed run may change without changing what the saved states mean.
RESUMABLE_CHANGES = frozenset({
    "num_epochs", "eval_every", "checkpoint_every", "keep_checkpoints", "figures", "progress",
    "data_dir", "tfds_data_dir", "evals", "final_evals", "nll_samples", "nll_chunk",
    "nll_batch_size", "eval_batch_size", "memory_limit_gb", "member_map", "probe_train_size",
    "disentanglement_votes", "dci_importance_model", "mesh_members", "mesh_data",
    "final_checkpoint", "conv_impl", "fast_threefry",
})


# ------------------------------------------------------------------------------------ config.json
def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_to_json(config) -> dict:
    return json.loads(config.to_json_best_effort(sort_keys=True))


def check_or_write_config(workdir: str, config, write: bool = True) -> None:
    """Writes workdir/config.json, or checks that the one there is compatible with `config`.

    `write=False` only checks (the processes of a multi-process run other than process 0)."""
    path = os.path.join(workdir, "config.json")
    current = config_to_json(config)
    if os.path.exists(path):
        try:
            with open(path) as f:
                saved = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise CheckpointError(
                f"{path} is unreadable ({e}); it records how this workdir was made. Restore it "
                "or use a new --workdir"
            ) from e
        old, new = _flatten(saved), _flatten(current)
        _check_schedule_epochs(old, new, path)
        # A field added to vae_jax after the workdir was made is compatible at its default.
        defaults = _flatten(config_to_json(base_config()))
        differing = sorted(
            k for k in set(old) | set(new)
            if old.get(k) != new.get(k) and k.split(".")[0] not in RESUMABLE_CHANGES
            and not (k not in old and k in defaults and new.get(k) == defaults[k])
        )
        if differing:
            details = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in differing[:8])
            raise CheckpointError(
                f"workdir {workdir} holds a run made with a different config ({details}). "
                "Its checkpoints would not fit: use a new --workdir, or rerun with the saved "
                f"config ({path})."
            )
    if not write:
        return
    with open(path + ".tmp", "w") as f:  # replaced atomically: a crash never leaves half a file
        json.dump(current, f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)


def read_config(workdir: str) -> ml_collections.ConfigDict:
    """The resolved config a workdir was made with (its config.json; JSON lists back to tuples)."""
    path = os.path.join(workdir, "config.json")
    try:
        with open(path) as f:
            saved = json.load(f)
    except FileNotFoundError as e:
        raise CheckpointError(f"{path} does not exist: {workdir} is not a vae_jax workdir "
                              "(train one with python -m vae_jax.main --workdir=...)") from e
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path} is unreadable ({e}); it records how this workdir was "
                              "made") from e
    return ml_collections.ConfigDict(_tuples(saved))


def _tuples(value):
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def _check_schedule_epochs(old: dict, new: dict, path: str) -> None:
    """num_epochs may grow on resume, unless the learning-rate schedule is a function of it."""
    schedule = old.get("lr_schedule")
    if schedule in SHAPED_BY_NUM_EPOCHS and old.get("num_epochs") != new.get("num_epochs"):
        raise CheckpointError(
            f"{path}: this run's lr_schedule {schedule!r} is shaped by num_epochs, so changing "
            f"num_epochs from {old.get('num_epochs')} to {new.get('num_epochs')} would resume on "
            "another learning-rate curve than its first epochs followed. Keep "
            f"--config.num_epochs={old.get('num_epochs')} here, or train the longer run in a new "
            "--workdir (lr_schedule=constant runs may be extended)."
        )


# ------------------------------------------------------------------------------------ the states
class Checkpointer:
    """Saves and restores a (stacked) TrainState pytree under `directory`, one step per epoch.

    A context manager: leaving it, even by an exception, waits for the save in flight and
    closes orbax, so no half-written `*.orbax-checkpoint-tmp*` directory or background thread
    outlives the run. Temporary directories a killed run left are removed when one opens.
    Writes that fail (a full disk) raise CheckpointError; nothing complete is deleted.
    """

    def __init__(self, directory: str, keep: int = 3):
        # Asynchronous: the files are written while the next epoch trains (a synchronous save
        # cost ~20% of an MNIST epoch of configs/vae.py on 2 cores). A step directory is
        # finalised atomically, so an interrupted save never replaces a good checkpoint.
        self._options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, enable_async_checkpointing=True, cleanup_tmp_directories=True)
        self.directory = os.path.abspath(directory)
        self._manager = ocp.CheckpointManager(self.directory, options=self._options)

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # the run's own error is the one to report
            self.close()
        except CheckpointError as e:
            logging.warning("%s", e)

    def latest_epoch(self) -> int | None:
        """The last epoch whose checkpoint is complete on disk (waits for one in flight)."""
        with self._writing("finishing"):
            self._manager.wait_until_finished()
        return self._manager.latest_step()

    def save(self, epoch: int, states, optimizer_state: bool = True) -> None:
        """`optimizer_state=False` leaves the Adam moments out (final_checkpoint=params): the
        checkpoint restores the parameters, but training cannot continue from it."""
        if not optimizer_state:
            states = states.replace(opt_state=None)
        # Save a copy: the training epoch donates `states`' buffers to its successor, which
        # would otherwise overwrite them while the background write still reads them.
        # One storage chunk per member (shard_axes=(0,): the leading, member axis), so that
        # `restore_member` reads one member's bytes and not the population's.
        save_args = jax.tree.map(lambda a: ocp.SaveArgs(shard_axes=(0,) if a.ndim else ()),
                                 states)
        with self._writing(f"saving epoch {epoch}"):
            self._manager.save(epoch, args=ocp.args.StandardSave(
                jax.tree.map(jnp.copy, states), save_args=save_args))

    def restore(self, epoch: int, like):
        """The states saved at `epoch`, shaped and placed like `like` (freshly built states).

        From a checkpoint without optimizer state, `like`'s (fresh) one stands in for it:
        callers that would train on check `has_optimizer_state` first."""
        self._manager.wait_until_finished()
        try:
            params_only = not self.has_optimizer_state(epoch)
            target = like.replace(opt_state=None) if params_only else like
            abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
            restored = self._manager.restore(epoch, args=ocp.args.StandardRestore(abstract))
            return restored.replace(opt_state=like.opt_state) if params_only else restored
        except Exception as e:  # orbax/tensorstore raise many types for one cause
            raise CheckpointError(
                f"checkpoint {self.directory}/{epoch} cannot be restored into this run's model "
                f"({type(e).__name__}: {str(e)[:300]}). It was written by another config or is "
                "damaged; use a new --workdir (nothing was deleted)."
            ) from e

    def has_optimizer_state(self, epoch: int) -> bool:
        """False for a checkpoint saved with optimizer_state=False (its tree has no moments)."""
        return bool(jax.tree.leaves(self._tree(epoch).get("opt_state")))

    def check_extensible(self, epoch: int, num_epochs: int) -> None:
        """Raises CheckpointError when training would go on from `epoch` (< num_epochs) of a
        checkpoint saved without optimizer state (final_checkpoint=params)."""
        if 0 < epoch < num_epochs and not self.has_optimizer_state(epoch):
            raise CheckpointError(
                f"{self.directory}/{epoch} is a final checkpoint without optimizer state "
                f"(final_checkpoint=params), so this run cannot be extended from {epoch} to "
                f"{num_epochs} epochs; train the longer run in a new --workdir (and keep "
                "--config.final_checkpoint=full for runs you mean to extend)")

    def _tree(self, epoch: int) -> dict:
        """The saved tree of the checkpoint at `epoch` (orbax's metadata of each leaf)."""
        step_dir = os.path.join(self.directory, str(epoch), "default")
        if not os.path.isdir(step_dir):
            raise CheckpointError(f"no checkpoint of epoch {epoch} in {self.directory}; "
                                  f"epochs saved: {self.epochs()}")
        try:
            return dict(ocp.StandardCheckpointer().metadata(step_dir).item_metadata.tree)
        except Exception as e:  # noqa: BLE001 - orbax raises many types for a damaged file
            raise CheckpointError(f"the metadata of {step_dir} is unreadable "
                                  f"({type(e).__name__}: {str(e)[:200]}): the checkpoint is "
                                  "damaged") from e

    def restore_latest(self, like) -> tuple[int, object]:
        """(epoch, states) of the newest checkpoint that restores; (0, like) when none exists.

        A newest checkpoint that fails while an older one restores is damaged (a torn write,
        a truncated file): it is moved aside to `<directory>-damaged/` with a warning, never
        deleted. When none restores, the newest one's error is raised (another config)."""
        epochs = sorted(self._manager.all_steps(), reverse=True)
        if not epochs:
            return 0, like
        try:
            return epochs[0], self.restore(epochs[0], like)
        except CheckpointError as newest_error:
            for i, epoch in enumerate(epochs[1:], start=1):
                try:
                    states = self.restore(epoch, like)
                except CheckpointError:
                    continue
                for damaged in epochs[:i]:
                    self._move_aside(damaged)
                self._manager.reload()  # it listed the moved steps
                return epoch, states
            raise newest_error

    def _move_aside(self, epoch: int) -> None:
        aside = os.path.join(self.directory + "-damaged", str(epoch))
        while os.path.exists(aside):
            aside += "+"
        os.makedirs(os.path.dirname(aside), exist_ok=True)
        os.replace(os.path.join(self.directory, str(epoch)), aside)
        logging.warning("checkpoint %s/%d is damaged (it does not restore while an older one "
                        "does); moved it to %s and resuming from the one before",
                        self.directory, epoch, aside)

    def close(self) -> None:
        with self._writing("finishing"):
            self._manager.close()
        if jax.process_count() == 1:  # nothing in flight: a tmp directory is a failed write
            for name in os.listdir(self.directory):
                if ".orbax-checkpoint-tmp" in name:
                    shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    @contextlib.contextmanager
    def _writing(self, what: str):
        try:
            yield
        except UserError:
            raise
        except Exception as e:  # noqa: BLE001 - an OSError, or tensorstore's ValueError for one
            complete = self._manager.all_steps()
            raise CheckpointError(
                f"writing a checkpoint under {self.directory} failed while {what} "
                f"({type(e).__name__}: {str(e)[:300]}). Training stopped; the complete "
                f"checkpoints (epochs {', '.join(map(str, sorted(complete))) or 'none'}) are "
                "intact. Free disk space (or fix the directory's permissions) and rerun the "
                "same command to resume."
            ) from e

    def restore_member(self, epoch: int, index: int, like: dict, item: str = "params") -> dict:
        """Member `index`'s `item` subtree (its params, say) saved at `epoch`, as numpy arrays
        shaped like `like` (one member's tree, abstract arrays will do).

        Orbax restores whole arrays (0.12.8 pads or truncates only at the end of an axis), so
        this reads each stacked array's slice [index] with tensorstore: from checkpoints saved
        with one chunk per member (`save`) only that member's bytes; from older ones, chunks
        holding the whole population, decoded and then sliced.
        """
        self._manager.wait_until_finished()
        step_dir = os.path.join(self.directory, str(epoch), "default")
        options = compat_orbax.storage_options(step_dir)
        leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
        names = [".".join((item, *(str(k.key) for k in path))) for path, _ in leaves]
        opened = [ts.open(compat_orbax.read_spec(step_dir, name, options),
                          context=options["context"]) for name in names]
        reads = []
        for (_, leaf), name, future in zip(leaves, names, opened, strict=True):
            try:
                stored = future.result()
            except ValueError as e:  # tensorstore: NOT_FOUND and the like
                raise CheckpointError(f"{self.directory}/{epoch} has no readable {name} "
                                      f"({str(e)[:200]}); it was written by another config "
                                      "or is damaged") from e
            if index >= stored.shape[0] or tuple(stored.shape[1:]) != tuple(leaf.shape):
                raise CheckpointError(
                    f"{self.directory}/{epoch}: {name} is stored as {tuple(stored.shape)}; "
                    f"member {index} of shape {tuple(leaf.shape)} is not in it. The workdir "
                    "holds another config's checkpoints or fewer members")
            reads.append(stored[index].read())
        return jax.tree.unflatten(treedef, [np.asarray(r.result()) for r in reads])

    def epochs(self) -> list[int]:
        return list(self._manager.all_steps())
