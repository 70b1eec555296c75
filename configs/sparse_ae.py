"""Sparse autoencoder on MNIST: 200 sigmoid code units, KL penalty towards a mean activation
of rho = 0.05 (Ng's sparse autoencoder). `--config.objective=sparse_l1` swaps in the L1
penalty on the code (use code_activation relu or linear with it).

Command:  python -m vae_jax.main --config=configs/sparse_ae.py --workdir=/tmp/sparse_ae
Runtime:  25 s on the 2-core CPU (5 epochs).
Result:   docs/results.md, "The autoencoder family".
"""

from configs import ae


def get_config():
    config = ae.get_config()  # MNIST, dynamic binarisation, MLP 500
    config.objective = "sparse_kl"
    config.code_activation = "sigmoid"
    config.latents = 200
    config.penalty_weight = 10.0
    config.sparsity_target = 0.05
    config.num_epochs = 5
    config.eval_every = 5
    config.evals = ("elbo", "sparsity", "linear_probe")
    return config
