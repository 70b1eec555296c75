"""PyTorch eager baseline: the Flax VAE example's MLP VAE, trained the idiomatic PyTorch way.

Model and loss match the official Flax example (which itself follows pytorch/examples/vae):
encoder Linear(784, 500) relu -> Linear(500, 20) mean, Linear(500, 20) logvar; decoder
Linear(20, 500) relu -> Linear(500, 784) logits; Bernoulli likelihood on logits (BCE summed over
pixels) + analytic KL, mean over the batch; Adam(lr=1e-3). Data: the float32 images live in one
in-memory tensor; each step samples a batch of indices and binarises it dynamically with
`torch.bernoulli`. The loop is plain eager PyTorch (zero_grad / backward / step), no
torch.compile, default CPU threading unless `threads` is given.
"""

import time

import numpy as np

_WARMUP_STEPS = 5
_BENCH_HINT = 'PyTorch is needed for this baseline: pip install -e ".[bench]" (torch==2.13.0)'


def _import_torch():
    try:
        import torch
    except ImportError as e:
        raise ImportError(_BENCH_HINT) from e
    return torch


def _vae(torch, latents: int = 20):
    nn, F = torch.nn, torch.nn.functional

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(784, 500)
            self.fc21, self.fc22 = nn.Linear(500, latents), nn.Linear(500, latents)
            self.fc3, self.fc4 = nn.Linear(latents, 500), nn.Linear(500, 784)

        def forward(self, x):
            h = F.relu(self.fc1(x))
            mean, logvar = self.fc21(h), self.fc22(h)
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
            return self.fc4(F.relu(self.fc3(z))), mean, logvar

    return VAE()


def torch_images_per_second(
    images: np.ndarray, num_steps: int, batch_size: int = 128, threads: int | None = None
) -> float:
    """Trains the VAE for `num_steps` eager PyTorch steps on CPU and returns images/s.

    Args:
      images: [N, 784] (or [N, 28, 28]) grey levels in [0, 1]; binarised per batch.
      num_steps: timed steps, after a few untimed warm-up steps.
      batch_size: images per step (128 in the Flax example).
      threads: `torch.set_num_threads` for the run (restored afterwards); None keeps the default.
    """
    torch = _import_torch()
    F = torch.nn.functional
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        data = torch.from_numpy(np.asarray(images, np.float32).reshape(len(images), -1))
        model = _vae(torch)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        model.train()

        def step():
            x = torch.bernoulli(data[torch.randint(len(data), (batch_size,))])
            optimizer.zero_grad()
            logits, mean, logvar = model(x)
            bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
            kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp(), dim=-1)
            loss = (bce + kl).mean()
            loss.backward()
            optimizer.step()
            return loss

        for _ in range(_WARMUP_STEPS):
            step()
        start = time.perf_counter()
        for _ in range(num_steps):
            loss = step()
        elapsed = time.perf_counter() - start
        if not torch.isfinite(loss):
            raise FloatingPointError(f"torch baseline diverged: loss={loss.item()}")
        return num_steps * batch_size / elapsed
    finally:
        torch.set_num_threads(old_threads)
