"""Metrics: per-example evaluators (ELBO terms, importance-sampled likelihood, denoising PSNR),
probes on codes, disentanglement metrics, and the registry of evaluators chosen by name."""
