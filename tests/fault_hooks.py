"""`python tests/fault_hooks.py HOOK EPOCH [vae_jax.main flags]`: the command line with a
pause where tests/test_faults.py kills it. It prints 'PAUSED' and sleeps:

* `epoch`: right after epoch EPOCH (0-based) was dispatched, while it computes;
* `finalize`: in orbax's background thread, when the files of the checkpoint of epoch EPOCH
  are written but not yet renamed into place (a kill mid-write leaves the tmp directory).
"""

import runpy
import sys
import time

from orbax.checkpoint._src.path import atomicity

from vae_jax import run


def pause():
    print("PAUSED", flush=True)
    time.sleep(600)


def pause_in_epoch(epoch_to_pause: int):
    compile_programs = run._compile

    def compiled(*args, **kwargs):
        programs = compile_programs(*args, **kwargs)
        epoch_fn = programs.epoch

        def epoch_then_pause(states, images, epoch, *args):
            out = epoch_fn(states, images, epoch, *args)  # dispatched, computing
            if epoch == epoch_to_pause:
                pause()
            return out

        programs.epoch = epoch_then_pause
        return programs

    run._compile = compiled


def pause_in_finalize(epoch_to_pause: int):
    finalize = atomicity.AtomicRenameTemporaryPath.finalize

    async def paused_finalize(self, *args, **kwargs):
        if self.get().name.startswith(f"{epoch_to_pause}.orbax-checkpoint-tmp"):
            pause()
        return await finalize(self, *args, **kwargs)

    atomicity.AtomicRenameTemporaryPath.finalize = paused_finalize


if __name__ == "__main__":
    hook, epoch = sys.argv[1], int(sys.argv[2])
    {"epoch": pause_in_epoch, "finalize": pause_in_finalize}[hook](epoch)
    sys.argv = ["vae_jax.main", *sys.argv[3:]]
    runpy.run_module("vae_jax.main", run_name="__main__", alter_sys=True)
