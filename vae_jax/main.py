"""Command line: `python -m vae_jax.main --config=configs/vae.py --workdir=DIR [--config.x=y]`.

Parses flags and calls `run.train_and_evaluate`; running the same command again resumes.
Every config field, its type, allowed values and whether it can be swept: docs/configuration.md.
Bad input ends with one 'error: ...' line and exit code 2 (--verbose adds the traceback).
Several processes (docs/scaling.md): the same command in each, with --coordinator_address,
--num_processes and --process_id (or --distributed under SLURM / Open MPI / on a TPU slice).
"""

from absl import app, flags

from vae_jax import cli, run
from vae_jax.train import distributed

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for config.json, checkpoints, logs and figures.")
cli.define_config_file()
flags.mark_flags_as_required(["config", "workdir"])
flags.DEFINE_string("coordinator_address", "", "HOST:PORT of process 0 in a multi-process run.")
flags.DEFINE_integer("num_processes", 0, "Processes in a multi-process run.")
flags.DEFINE_integer("process_id", -1, "This process's index, 0 .. num_processes - 1.")
flags.DEFINE_bool("distributed", False, "Join a multi-process run that jax detects itself "
                  "(SLURM, Open MPI, TPU slice) without the three flags above.")
flags.DEFINE_integer("heartbeat_timeout", 30, "Seconds without a heartbeat after which a "
                     "process counts as lost and the others stop (multi-process runs).")
flags.DEFINE_integer("shutdown_timeout", 30, "Seconds the final shutdown waits for the other "
                     "processes (multi-process runs).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    # Before any jax computation: the processes' devices must form one job first.
    several = distributed.initialize(
        FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id, FLAGS.distributed,
        FLAGS.heartbeat_timeout, FLAGS.shutdown_timeout)
    try:
        run.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    except Exception as e:
        if several and distributed.is_peer_failure(e):
            distributed.stop(distributed.lost_peer_message(distributed.short_reason(e)))
        raise
    if several:
        distributed.finish()


if __name__ == "__main__":
    cli.run_command(main)
