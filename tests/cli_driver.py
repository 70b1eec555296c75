"""Runs many `python -m vae_jax.main ARGS` command lines in one interpreter, for fast CLI tests.

    python tests/cli_driver.py < cases.json > results.json

cases.json is a list of argument lists (for vae_jax.main) or {"script": "experiments/x.py",
"args": [...]}; results.json a list of {"rc", "stdout", "stderr", "seconds"}.
The library is imported once; each command line then runs in a forked child exactly as
`python -m vae_jax.main` runs it (runpy, `__main__`, its own flags), so a case costs
milliseconds instead of the seconds an interpreter needs to import JAX.
"""

import json
import os
import runpy
import sys
import tempfile
import time

sys.path.insert(0, os.getcwd())

import vae_jax.run  # noqa: E402, F401 - the slow imports, done once before forking


def _child(case, out_path: str, err_path: str) -> None:
    """In the forked child: stdout and stderr to files, run the command, exit with its code."""
    for path, fd in ((out_path, 1), (err_path, 2)):
        with open(path, "w") as f:
            os.dup2(f.fileno(), fd)
    script = case["script"] if isinstance(case, dict) else None
    args = case["args"] if script else case
    sys.argv = [script or "vae_jax/main.py", *args]
    code = 0
    try:
        if script:
            runpy.run_path(script, run_name="__main__")
        else:
            runpy.run_module("vae_jax.main", run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:  # noqa: BLE001 - a crash is reported as Python reports it
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_case(case) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out_path, err_path = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        start = time.perf_counter()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(case, out_path, err_path)
        _, status = os.waitpid(pid, 0)
        seconds = time.perf_counter() - start
        with open(out_path) as out, open(err_path) as err:
            return {"rc": os.waitstatus_to_exitcode(status), "stdout": out.read(),
                    "stderr": err.read(), "seconds": seconds}


if __name__ == "__main__":
    json.dump([run_case(case) for case in json.load(sys.stdin)], sys.stdout)
