"""Contractive autoencoder on MNIST (Rifai et al. 2011): reconstruction + lambda ||dz/dx||_F^2,
the encoder's Jacobian computed exactly with one vector-Jacobian product per code unit.

Command:  python -m vae_jax.main --config=configs/contractive_ae.py --workdir=/tmp/contractive_ae
Runtime:  105 s on the 2-core CPU (5 epochs; the penalty costs 20 VJPs per image).
Result:   docs/results.md, "The autoencoder family".
"""

from configs import ae


def get_config():
    config = ae.get_config()  # MNIST, dynamic binarisation, MLP 500 -> 20
    config.objective = "contractive"
    config.code_activation = "sigmoid"  # Rifai et al. use sigmoid codes
    config.penalty_weight = 1.0
    config.num_epochs = 5
    config.eval_every = 5
    config.evals = ("elbo", "linear_probe")
    return config
