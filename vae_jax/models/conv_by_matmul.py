"""Stride-2, 3x3, 'SAME' convolutions and transposed convolutions as matmuls, for XLA:CPU.

Inside the epoch's `lax.scan`, XLA:CPU runs the gradients of its own convolutions through a
slow generic loop (see models.DownConv / models.UpConv), so on CPU the conv models use these
instead (config.conv_impl: auto or matmul): each is one matmul over the nine kernel taps plus
data movement. They lean on how XLA pads and orders taps; tests/test_conv_check.py checks
them against XLA's ops (values and both gradients), so a jax that changed that fails there.

Their backward passes are written out (`jax.custom_vjp`) rather than left to autodiff, which
moved the data wastefully: the transpose of each of `downsample`'s nine strided slices is a
padded array of the input's full size, summed nine times, and `upsample`'s roll / take /
stack transposes into as many scatters. The hand-written passes are one matmul per gradient
plus the mirror-image data movement, and they add the same terms in the same order as
autodiff did, so the gradients are bit-for-bit autodiff's (tests/test_models.py), and conv
epochs are 12-22% faster on CPU (docs/performance.md).

The backward passes are themselves differentiable (the contractive AE differentiates a vjp of
the encoder): second derivatives agree with autodiff's to float32 round-off (a test). Being
`custom_vjp` functions they have no forward mode: `jax.jvp` / `jax.jacfwd` through a conv
model with conv_impl=matmul raise. Nothing in vae_jax uses forward mode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


# --------------------------------------------------------------------------- shared data movement
def same_padding(size: int) -> tuple[int, int, int]:
    """(output size, padding before, padding after) of a 3-wide, stride-2 'SAME' window: XLA
    pads 2 * out + 1 - size in all, the smaller half before."""
    out = -(-size // 2)
    total = 2 * out + 1 - size
    return out, total // 2, total - total // 2


def _pad_axis(a: jax.Array, axis: int, before: int, after: int) -> jax.Array:
    """`a` with `before` / `after` zeros along `axis` (a negative amount crops)."""
    config = [(0, 0, 0)] * a.ndim
    config[axis] = (before, after, 0)
    return jax.lax.pad(a, jnp.zeros((), a.dtype), config)


def _interleave(even: jax.Array, odd: jax.Array, axis: int) -> jax.Array:
    """[even 0, odd 0, even 1, odd 1, ...] along `axis`; `odd` is as long as `even` or one
    shorter."""
    n_even, n_odd = even.shape[axis], odd.shape[axis]
    merged = jnp.stack([even, _pad_axis(odd, axis, 0, n_even - n_odd)], axis=axis + 1)
    shape = list(even.shape)
    shape[axis] = 2 * n_even
    return jax.lax.slice_in_dim(merged.reshape(shape), 0, n_even + n_odd, axis=axis)


def _taps(padded: jax.Array, out_h: int, out_w: int, offsets: tuple[int, ...]) -> jax.Array:
    """[..., out_h, out_w, 9 * C]: padded[..., 2i + r, 2j + s, :] for r, s in `offsets`,
    concatenated row-major (the kernel's HWI order when offsets are (0, 1, 2))."""
    return jnp.concatenate(
        [padded[..., r : r + 2 * out_h - 1 : 2, s : s + 2 * out_w - 1 : 2, :]
         for r in offsets for s in offsets], axis=-1)


# -------------------------------------------------------------------------------- convolution
def _patches(x: jax.Array) -> jax.Array:
    """[..., out_h, out_w, 9 * C]: the 3x3 windows of x [..., H, W, C] at stride 2, 'SAME'."""
    *lead, height, width, _ = x.shape
    out_h, top, bottom = same_padding(height)
    out_w, left, right = same_padding(width)
    padded = jnp.pad(x, [(0, 0)] * len(lead) + [(top, bottom), (left, right), (0, 0)])
    return _taps(padded, out_h, out_w, (0, 1, 2))


@jax.custom_vjp
def downsample(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """lax.conv_general_dilated(x, kernel [3, 3, C, O], strides 2, 'SAME') for x [..., H, W, C]."""
    return _downsample_fwd(x, kernel)[0]


def _downsample_fwd(x, kernel):
    patches = _patches(x)
    return patches @ kernel.reshape(-1, kernel.shape[-1]), (x, patches, kernel)


def _downsample_bwd(residuals, dy):
    x, patches, kernel = residuals
    *_, height, width, channels = x.shape
    out_h, top, _ = same_padding(height)
    out_w, left, _ = same_padding(width)
    flat_kernel = kernel.reshape(9 * channels, -1)
    dy = dy.reshape(-1, flat_kernel.shape[-1])
    dkernel = (patches.reshape(-1, 9 * channels).T @ dy).reshape(kernel.shape)
    dpatches = (dy @ flat_kernel.T).reshape(-1, out_h, out_w, 9, channels)
    # Window (i, j)'s tap (p, q) read padded pixel (2i + p, 2j + q): taps p = 0 and 2 land on
    # even rows (window i's and window i - 1's), p = 1 on odd rows; likewise q for columns.
    # Each phase grid sums its taps as autodiff did, tap 8 first down to tap 0.
    place = {0: (0, 1), 1: (0, 0), 2: (1, 0)}  # zeros before / after: window i - 1 for p = 2

    def at(p, q):  # tap (p, q) on its phase grid, rows on axis 1 and columns on axis 2
        return _pad_axis(_pad_axis(dpatches[:, :, :, 3 * p + q, :], 1, *place[p]), 2, *place[q])

    even_even = ((at(2, 2) + at(2, 0)) + at(0, 2)) + at(0, 0)
    even_odd = at(2, 1) + at(0, 1)
    odd_even = at(1, 2) + at(1, 0)
    even_rows = _interleave(even_even, even_odd, axis=2)
    odd_rows = _interleave(odd_even, at(1, 1), axis=2)
    dpadded = _interleave(even_rows, odd_rows, axis=1)  # [N, 2 out_h + 1, 2 out_w + 1, C]
    dx = dpadded[:, top : top + height, left : left + width, :]
    return dx.reshape(x.shape), dkernel


downsample.defvjp(_downsample_fwd, _downsample_bwd)


# --------------------------------------------------------------------- transposed convolution
def _flat_up_kernel(kernel: jax.Array) -> jax.Array:
    """[C, 9 * O]: every tap's [C, O] matrix side by side, in (p, q) order."""
    channels, out = kernel.shape[2], kernel.shape[3]
    return kernel.transpose(2, 0, 1, 3).reshape(channels, 9 * out)


def _merge_taps(taps: jax.Array, axis: int, tap_axis: int) -> jax.Array:
    """Merge the kernel-tap axis `tap_axis` into a doubled `axis`: output 2i = tap 2 at i +
    tap 0 at i - 1 (none for i = 0), output 2i + 1 = tap 1 at i."""
    tap = lambda t: jnp.take(taps, t, axis=tap_axis)  # noqa: E731
    return _interleave(tap(2) + _pad_axis(tap(0), axis, 1, -1), tap(1), axis)


@jax.custom_vjp
def upsample(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """lax.conv_transpose(x, kernel [3, 3, C, O], strides 2, 'SAME') for x [..., H, W, C].

    Output row 2i gets kernel row 2 applied to input row i plus kernel row 0 applied to row
    i - 1; row 2i + 1 gets kernel row 1 applied to row i (likewise for columns).
    """
    *lead, height, width, channels = x.shape
    out = kernel.shape[-1]
    # taps[n, i, j, p, q, :] = x[n, i, j, :] @ kernel[p, q]: every tap in one matmul.
    taps = (x.reshape(-1, channels) @ _flat_up_kernel(kernel)).reshape(
        -1, height, width, 3, 3, out)
    rows = _merge_taps(taps, axis=1, tap_axis=3)  # [N, 2H, W, 3, O]
    grid = _merge_taps(rows, axis=2, tap_axis=3)  # [N, 2H, 2W, O]
    return grid.reshape(*lead, 2 * height, 2 * width, out)


def _upsample_fwd(x, kernel):
    return upsample(x, kernel), (x, kernel)


def _upsample_bwd(residuals, dy):
    x, kernel = residuals
    *_, height, width, channels = x.shape
    out = kernel.shape[-1]
    # Tap (p, q) of input pixel (i, j) landed on output (2i + 2 - p, 2j + 2 - q), or past the
    # edge (the zero row and column padded on here).
    padded = jnp.pad(dy.reshape(-1, 2 * height, 2 * width, out), [(0, 0), (0, 1), (0, 1), (0, 0)])
    dtaps = _taps(padded, height, width, (2, 1, 0)).reshape(-1, 9 * out)
    flat_kernel = _flat_up_kernel(kernel)
    dx = (dtaps @ flat_kernel.T).reshape(x.shape)
    dflat = x.reshape(-1, channels).T @ dtaps
    return dx, dflat.reshape(channels, 3, 3, out).transpose(1, 2, 0, 3)


upsample.defvjp(_upsample_fwd, _upsample_bwd)
