"""What every vae_jax command shares (vae_jax.main and experiments/*.py): the --verbose flag,
flag parsing that turns a bad flag into one line, and UserError as one 'error: ...' line."""

import importlib.util
import re
import sys
import traceback

from absl import app, flags, logging
from ml_collections import config_flags

from vae_jax.errors import UserError

flags.DEFINE_bool("verbose", False, "Show the traceback behind an 'error: ...' line (bad flags, "
                  "config fields, data or workdir).")
EXIT_USAGE = 2  # bad input, whether a flag, a config field, the data or the workdir
CONFIG_HELP = ("Config file (configs/*.py); override any field with --config.<field>=value. "
               "The fields, their types and allowed values: docs/configuration.md.")


def define_config_file(default: str | None = None, help_string: str = CONFIG_HELP):
    """Defines --config. With a default file, config_flags applies the --config.<field>
    overrides right here, at definition: a bad one ends here as one line, exit 2."""
    try:
        return config_flags.DEFINE_config_file("config", default, help_string, lock_config=True)
    except Exception as e:  # noqa: BLE001 - as in parse_flags
        _fail(sys.argv, e, default)


def run_command(main_fn) -> None:
    """`app.run` for a vae_jax command: flags parsed by `parse_flags`, main wrapped by
    `command`."""
    app.run(command(main_fn), flags_parser=parse_flags)


def command(main_fn):
    """An absl main for vae_jax commands (this one and experiments/*.py): library logs quiet
    (orbax logs every save at INFO), and a UserError becomes one 'error: ...' line, exit 2."""

    def wrapped(argv):
        logging.set_verbosity(logging.WARNING)
        try:
            return main_fn(argv)
        except UserError as e:
            if flags.FLAGS.verbose:
                traceback.print_exc()
            print(f"error: {e}", file=sys.stderr)
            sys.exit(EXIT_USAGE)

    return wrapped


def parse_flags(argv: list[str]) -> list[str]:
    """absl flag parsing, where any failure (an unknown --config.<field>, a value of the wrong
    type, a missing flag) becomes one 'error: ...' line and exit 2; the traceback (55 lines
    from ml_collections for a misspelt field) only with --verbose."""
    try:
        argv = flags.FLAGS(argv)
        if "config" in flags.FLAGS and flags.FLAGS["config"].value is not None:
            flags.FLAGS["config"].value.keys()  # a file that failed to load raises OSError here
        return argv
    except Exception as e:  # noqa: BLE001 - flag parsing fails with many types, all usage errors
        _fail(argv, e)


def _fail(argv: list[str], error: Exception, default_config: str | None = None):
    if _wants_traceback(argv):
        traceback.print_exc()
    print(f"error: {flag_error_message(argv, error, default_config)}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def _wants_traceback(argv: list[str]) -> bool:
    # Flags are not parsed (that is what failed), so --verbose is read from argv itself.
    return any(re.fullmatch(r"--?verbose(=(true|True|1))?", arg) for arg in argv[1:])


def _config_overrides(argv: list[str]) -> list[str]:
    """The field paths of --config.<path>[=value] (and --noconfig.<path>) in argv."""
    paths = []
    for arg in argv[1:]:
        match = re.match(r"--?(?:no)?config\.([^=\s]+)", arg)
        if match:
            paths.append(match.group(1))
    return paths


def _config_file(argv: list[str]) -> str | None:
    """The FILE of --config=FILE (or --config FILE) in argv, or None."""
    for i, arg in enumerate(argv[1:], start=1):
        match = re.fullmatch(r"--?config(?:=(.*))?", arg)
        if match:
            return match.group(1) if match.group(1) is not None else (
                argv[i + 1] if i + 1 < len(argv) else None)
    return None


def _load_config(path: str | None):
    """The config that `path` defines (without overrides), or None."""
    if not path:
        return None
    file, _, argument = path.partition(":")  # config_flags' FILE:ARG form
    try:
        spec = importlib.util.spec_from_file_location("vae_jax_cli_config", file)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.get_config(*([argument] if argument else []))
    except Exception:  # noqa: BLE001 - the file itself is broken: reported generically
        return None


def flag_error_message(argv: list[str], error: Exception, default_config: str | None = None
                       ) -> str:
    """One line for a flag-parsing failure: an unknown config field named with the closest
    valid names; otherwise the last line of the error (the exception itself)."""
    config = (_load_config(_config_file(argv) or default_config)
              if _config_overrides(argv) else None)
    if config is not None:
        from vae_jax.validation import unknown_field_message  # lazy: imports the library

        for path in _config_overrides(argv):
            message = unknown_field_message(path, config)
            if message:
                return message
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    text = lines[-1] if lines else type(error).__name__
    if "Traceback" in str(error) or len(lines) > 1:  # config_flags wraps a config file's error
        text = f"{text} (--verbose shows where)"
    return text
