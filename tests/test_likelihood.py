"""The importance-sampled likelihood against a model whose log p(x) is known: probabilistic PCA."""

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from vae_jax import objectives
from vae_jax.metrics import per_example
from vae_jax.objectives import gaussians

D, L, SIGMA = 6, 2, 0.5


def ppca(seed=0):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(D, L))
    b = rng.normal(size=D)
    x = rng.multivariate_normal(b, W @ W.T + SIGMA**2 * np.eye(D), size=64)
    true = stats.multivariate_normal(b, W @ W.T + SIGMA**2 * np.eye(D)).logpdf(x)
    # The exact posterior is N(M^-1 W^T (x - b), sigma^2 M^-1), M = W^T W + sigma^2 I; the
    # proposal is its diagonal, widened: a diagonal encoder that is close but not exact.
    M = W.T @ W + SIGMA**2 * np.eye(L)
    post_mean = (x - b) @ W @ np.linalg.inv(M).T
    post_var = np.tile(1.3 * SIGMA**2 * np.diag(np.linalg.inv(M)), (len(x), 1))
    return W, b, x, true, post_mean, post_var


def functions(W, b, post_mean, post_var):
    Wj, bj = jnp.asarray(W, jnp.float32), jnp.asarray(b, jnp.float32)
    mean, logvar = jnp.asarray(post_mean, jnp.float32), jnp.log(jnp.asarray(post_var, jnp.float32))

    def encode_fn(x):
        return mean, logvar

    def log_joint_fn(x, z):  # [S, B, L] -> [S, B]
        recon = z @ Wj.T + bj
        log_px_z = jax.vmap(jax.vmap(lambda xi, ri: objectives.gaussian_log_likelihood(
            xi, ri, 2 * jnp.log(SIGMA))), in_axes=(None, 0))(x, recon)
        return log_px_z + gaussians.log_standard_normal(z)

    return encode_fn, log_joint_fn


def exact_elbo(W, b, x, m, v):
    """Closed-form ELBO of the diagonal proposal N(m, v) under the pPCA model."""
    residual = ((x - m @ W.T - b) ** 2).sum(1) + (v @ (W**2).T).sum(1)
    expected_log_lik = -0.5 * (D * np.log(2 * np.pi * SIGMA**2) + residual / SIGMA**2)
    kl = 0.5 * (v + m**2 - 1 - np.log(v)).sum(1)
    return expected_log_lik - kl


def estimate(k, seed=1, chunk=500):
    W, b, x, true, m, v = ppca()
    encode_fn, log_joint_fn = functions(W, b, m, v)
    fn = jax.jit(lambda x, key: per_example.iwae_log_likelihood(encode_fn, log_joint_fn, x, key, k,
                                                                chunk))
    return np.asarray(fn(jnp.asarray(x, jnp.float32), jax.random.key(seed))), true, exact_elbo(
        W, b, x, m, v)


def test_large_k_recovers_the_exact_log_likelihood():
    est, true, elbo = estimate(5000)
    assert abs(est.mean() - true.mean()) < 0.05
    assert np.abs(est - true).max() < 0.2
    assert (est - true).mean() < 0.02  # never above the truth by more than noise
    assert (est > elbo).all()  # and always above the ELBO


def test_the_iwae_bound_increases_with_k():
    means = [np.mean([estimate(k, seed)[0].mean() for seed in range(4)]) for k in (1, 5, 50, 500)]
    _, true, elbo = estimate(1)
    assert means == sorted(means), means
    assert abs(means[0] - elbo.mean()) < 0.3  # k = 1 is the ELBO, by Monte Carlo
    assert means[-1] < true.mean() + 0.02


def test_chunking_does_not_change_the_estimate_beyond_noise():
    a, true, _ = estimate(1000, chunk=1000)
    b, _, _ = estimate(1000, chunk=300)  # 4 chunks, the last one partly masked
    assert abs(a.mean() - b.mean()) < 0.05
