"""KL schedules on MNIST as one population: a plain VAE, linear beta warm-up over the first
5 epochs, free bits (0.5 nats per latent), and capacity annealing (Burgess et al.: gamma = 10,
|KL - C| with C growing to 25 nats) — four members zipped, one compiled program.

Command:  python -m vae_jax.main --config=configs/kl_schedules.py --workdir=/tmp/kl_schedules
Runtime:  100 s on the 2-core CPU (4 members x 10 epochs, one program).
Result:   test -ELBO / KL: plain 102.30 / 27.50 (bitwise configs/vae.py's lone run); warm-up
          102.72 / 27.91; free bits 102.21 / 27.20; capacity 112.02 / 25.70 (the KL held
          near C_max = 25); 20/20 active units each.
"""

from configs import vae


def get_config():
    config = vae.get_config()
    config.evals = ("elbo", "active_units")
    steps = 10 * (60_000 // config.batch_size)  # 10 epochs
    config.sweep_mode = "zip"
    config.sweep.beta = (1.0, 1.0, 1.0, 10.0)
    config.sweep.kl_warmup_steps = (0.0, steps / 2, 0.0, 0.0)
    config.sweep.free_bits = (0.0, 0.0, 0.5, 0.0)
    config.sweep.capacity_max = (0.0, 0.0, 0.0, 25.0)
    config.sweep.capacity_steps = (0.0, 0.0, 0.0, float(steps))
    return config
