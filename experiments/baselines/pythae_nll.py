"""pythae baseline: `VAE.get_nll` (importance-sampled log-likelihood) on the Flax-example MLP.

pythae 0.1.2 `VAE.get_nll(data, n_samples=1, batch_size=100)` loops over the data points one at
a time in Python; for each it repeats the image `batch_size` times, runs encoder, reparameterised
sample, and decoder on that batch `n_samples // batch_size` times, and reduces with a logsumexp
into one `.item()` per image. It is called here the way pythae's own tests call it,
`model.get_nll(data=..., n_samples=k, batch_size=...)` (no `torch.no_grad()` around it, and pythae
adds none inside). The architecture is passed as custom encoder/decoder modules matching the Flax
example (Linear(784, 500) relu -> 20 mean, 20 logvar; Linear(20, 500) relu -> Linear(500, 784));
pythae's "bce" likelihood expects probabilities, so the decoder ends in a sigmoid as pythae's
default decoders do. Weights are untrained: the cost does not depend on them. Images are
pre-binarised floats (one fixed Bernoulli draw per pixel), shaped [N, 1, 28, 28] as pythae uses.
"""

import time

import numpy as np

from ._mnist import binarize

_BENCH_HINT = (
    'pythae and PyTorch are needed for this baseline: pip install -e ".[bench]" '
    "(torch==2.13.0, pythae==0.1.2)"
)


def _pythae_vae(latents: int = 20):
    try:
        import torch
        from pythae.models import VAE, VAEConfig
        from pythae.models.base.base_utils import ModelOutput
        from pythae.models.nn import BaseDecoder, BaseEncoder
    except ImportError as e:
        raise ImportError(_BENCH_HINT) from e
    nn = torch.nn

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 500)
            self.fc2_mean, self.fc2_logvar = nn.Linear(500, latents), nn.Linear(500, latents)

        def forward(self, x):
            h = torch.relu(self.fc1(x.reshape(x.shape[0], -1)))
            return ModelOutput(embedding=self.fc2_mean(h), log_covariance=self.fc2_logvar(h))

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(latents, 500), nn.Linear(500, 784)

        def forward(self, z):
            logits = self.fc2(torch.relu(self.fc1(z)))
            return ModelOutput(reconstruction=torch.sigmoid(logits).reshape(-1, 1, 28, 28))

    config = VAEConfig(input_dim=(1, 28, 28), latent_dim=latents, reconstruction_loss="bce")
    return torch, VAE(config, encoder=Encoder(), decoder=Decoder())


def pythae_nll_images_per_second(
    images: np.ndarray,
    num_images: int,
    k: int = 5000,
    batch_size: int = 100,
    threads: int | None = None,
) -> float:
    """Images/s of pythae's `VAE.get_nll` with `k` importance samples per image.

    Args:
      images: [N, 784] (or [N, 28, 28]) grey levels in [0, 1]; binarised once up front.
      num_images: how many images are timed (the first `num_images`; ~9 images/s, so keep small).
      k: importance samples per image (`n_samples`).
      batch_size: pythae's `batch_size` argument (its default, 100); `k // batch_size` batches.
      threads: `torch.set_num_threads` for the run (restored afterwards); None keeps the default.
    """
    torch, model = _pythae_vae()
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        flat = np.asarray(images[: num_images + 1], np.float32).reshape(-1, 784)
        data = torch.from_numpy(binarize(flat)).reshape(-1, 1, 28, 28)
        model.eval()
        model.get_nll(data=data[-1:], n_samples=k, batch_size=batch_size)  # warm-up, untimed
        start = time.perf_counter()
        nll = model.get_nll(data=data[:num_images], n_samples=k, batch_size=batch_size)
        elapsed = time.perf_counter() - start
        if not np.isfinite(nll):
            raise FloatingPointError(f"pythae get_nll returned {nll}")
        return num_images / elapsed
    finally:
        torch.set_num_threads(old_threads)
