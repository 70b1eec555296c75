"""Reference implementations that `experiments/throughput.py` times vae_jax against.

Each baseline is one plain function returning images per second, so the throughput script can
run them in the same process as the vae_jax measurement:

  - `torch_vae.torch_images_per_second`: the Flax-example MLP VAE in PyTorch eager on CPU.
  - `flax_example.flax_example_images_per_second`: the official Flax VAE example's training
    step as shipped (not jitted), and `flax_example_jitted_images_per_second` (same step, jitted).
  - `pythae_nll.pythae_nll_images_per_second`: pythae's importance-sampled `VAE.get_nll`.

torch and pythae are optional (`pip install -e ".[bench]"`); they are imported lazily inside
the functions, so importing this package only needs numpy (and jax/flax for the Flax baseline).
`_mnist.load_mnist_images` reads the MNIST IDX file with numpy for standalone checks.
"""
