"""What every vae_jax command shares (vae_jax.main and experiments/*.py); defines no flags."""

import sys

from absl import logging

from vae_jax.errors import UserError


def command(main_fn):
    """An absl main for vae_jax commands (this one and experiments/*.py): library logs quiet
    (orbax logs every save at INFO), and a UserError becomes one 'error: ...' line, exit 2."""

    def wrapped(argv):
        logging.set_verbosity(logging.WARNING)
        try:
            return main_fn(argv)
        except UserError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapped
