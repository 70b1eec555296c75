"""KL schedules on MNIST as one population: a plain VAE, linear beta warm-up over the first
5 epochs, free bits (0.5 nats per latent), and capacity annealing (Burgess et al.: gamma = 10,
|KL - C| with C growing to 25 nats over the 10 epochs) — four members zipped, one compiled
program. The ramps are given in epochs and converted to steps for the data actually loaded.

Command:  python -m vae_jax.main --config=configs/kl_schedules.py --workdir=/tmp/kl_schedules
Runtime:  100 s on the 2-core CPU (4 members x 10 epochs, one program).
Result:   docs/results.md, "The autoencoder family" (the paragraph on KL schedules).
"""

from configs import vae


def get_config():
    config = vae.get_config()
    config.evals = ("elbo", "active_units")
    config.sweep_mode = "zip"
    config.sweep.beta = (1.0, 1.0, 1.0, 10.0)
    # Ramps in epochs, turned into steps for the data loaded (--config.num_train moves them).
    config.sweep.kl_warmup_epochs = (0.0, 5.0, 0.0, 0.0)
    config.sweep.free_bits = (0.0, 0.0, 0.5, 0.0)
    config.sweep.capacity_max = (0.0, 0.0, 0.0, 25.0)
    config.sweep.capacity_epochs = (0.0, 0.0, 0.0, 10.0)
    return config
