"""Command line: `python -m vae_jax.main --config=configs/vae.py --workdir=DIR [--config.x=y]`.

Parses flags and calls `run.train_and_evaluate`; running the same command again resumes.
"""

from absl import app, flags
from ml_collections import config_flags

from vae_jax import run
from vae_jax.cli import command

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for config.json, checkpoints, logs and figures.")
config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py).", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


@command
def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    run.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
