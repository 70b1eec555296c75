"""Sparse autoencoder on MNIST: 200 sigmoid code units, KL penalty towards a mean activation
of rho = 0.05 (Ng's sparse autoencoder). `--config.objective=sparse_l1` swaps in the L1
penalty on the code (use code_activation relu or linear with it).

Command:  python -m vae_jax.main --config=configs/sparse_ae.py --workdir=/tmp/sparse_ae
Runtime:  25 s on the 2-core CPU (5 epochs).
Result:   test mean activation 0.053 (target 0.05), 70.2% of (image, unit) codes below
          0.05; recon 62.11 nats; linear probe on the 200 codes 92.9% (fitted on one fixed
          binarisation of the training images, like the binary test set it scores).
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
