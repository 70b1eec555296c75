"""Command line: `python -m vae_jax.main --config=configs/vae.py --workdir=DIR [--config.x=y]`.

Parses flags and calls `run.train_and_evaluate`; running the same command again resumes.
Every config field, its type, allowed values and whether it can be swept: docs/configuration.md.
Bad input ends with one 'error: ...' line and exit code 2 (--verbose adds the traceback).
"""

from absl import app, flags
from ml_collections import config_flags

from vae_jax import cli, run

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for config.json, checkpoints, logs and figures.")
config_flags.DEFINE_config_file(
    "config", None, "Config file (configs/*.py); override any field with --config.<field>=value. "
    "The fields, their types and allowed values: docs/configuration.md.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    run.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    cli.run(main)
