"""Merges the workdirs of a study (slices of one sweep, or several sweeps) into one report.

    python -m vae_jax.report --out=DIR WORKDIR [WORKDIR ...]

Writes DIR/REPORT.md (a table of mean ± sample std over seeds per setting, the members that
are missing and why, the study's figures), DIR/results.json (a list: one record per finished
member, its identifying fields at top level and every final metric under its logged name) and
DIR/study_*.png. Workdirs may be unfinished: their missing members are listed, not dropped.
"""

from __future__ import annotations

from absl import flags

from vae_jax.cli import run_command
from vae_jax.errors import UserError
from vae_jax.report import study as study_lib

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Directory of the merged REPORT.md, results.json, figures.")
flags.DEFINE_string("title", "Study", "The report's title.")


def main(argv):
    workdirs = argv[1:]
    if not FLAGS.out:
        raise UserError("--out=DIR is required: where REPORT.md and results.json go")
    study = study_lib.load(workdirs)
    study_lib.write(FLAGS.out, study, FLAGS.title,
                    intro=["Merged from " + ", ".join(f"`{w}`" for w in workdirs) + ".", ""])
    print(f"{len(study.records)} of {study.expected} members in {FLAGS.out}/REPORT.md"
          + (f"; {len(study.missing)} missing (listed there)" if study.missing else ""))


if __name__ == "__main__":
    run_command(main)
