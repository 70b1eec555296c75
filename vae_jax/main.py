"""Command line: `python -m vae_jax.main --config=configs/vae.py --workdir=DIR [--config.x=y]`.

Parses flags and calls `run.train_and_evaluate`; running the same command again resumes.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from vae_jax import run
from vae_jax.errors import UserError

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for config.json, checkpoints, logs and figures.")
config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py).", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    try:
        run.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    app.run(main)
