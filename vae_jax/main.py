"""Command line: `python -m vae_jax.main --config=configs/vae.py --workdir=DIR [--config.x=y]`.

Parses flags and calls `run.train_and_evaluate`; running the same command again resumes.
Every config field, its type, allowed values and whether it can be swept: docs/configuration.md.
Bad input ends with one 'error: ...' line and exit code 2 (--verbose adds the traceback).
"""

from absl import app, flags

from vae_jax import cli, run

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for config.json, checkpoints, logs and figures.")
cli.define_config_file()
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    run.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    cli.run_command(main)
