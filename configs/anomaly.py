"""Anomaly detection: an AE and a VAE trained on all classes but one, scored on the test set.

Command:  python experiments/anomaly.py --workdir=/tmp/anomaly [--datasets=mnist,fashion_mnist]
          [--held_out=0,1,...,9]   (the script sets exclude_train_labels per held-out class)
Runtime:  6.8 min on the 2-core CPU (20 runs: 10 held-out classes x MNIST and Fashion-MNIST,
          each an AE and a VAE trained for 3 epochs).
Result:   docs/results.md, "Anomaly detection".
"""

from vae_jax.defaults import base_config


def get_config():
    config = base_config()
    config.dataset = "mnist"
    config.binarization = "dynamic"
    config.architecture = "mlp"
    config.hidden = (500,)
    config.latents = 20
    config.batch_size = 128
    config.learning_rate = 1e-3
    config.num_epochs = 3
    config.eval_every = 3
    config.evals = ("elbo", "anomaly")
    config.figures = False
    config.sweep.model = ("ae", "vae")  # two populations: one program each
    config.keep_checkpoints = 1  # its experiment reads the last one only (resumes from it)
    return config
