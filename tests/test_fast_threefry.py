"""fast_threefry: importing vae_jax changes no jax lowering; a run's scope draws the same bits."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.extend.random as jax_random
import jax.numpy as jnp
import numpy as np
import pytest

from vae_jax import fast_threefry


def _compiled_bits(seed: int) -> str:
    # A fresh function each time: jax caches lowerings per function.
    return jax.jit(lambda key: jax.random.bits(key, (128, 784))).lower(
        jax.random.key(seed)).compile().as_text()


def test_importing_vae_jax_leaves_jax_lowerings_untouched():
    script = textwrap.dedent("""
        import jax
        def lowered():
            return jax.jit(lambda k: jax.random.bits(k, (4, 7))).lower(
                jax.random.key(0)).as_text()
        before = lowered()
        import vae_jax, vae_jax.run, vae_jax.api, vae_jax.main  # the whole package
        assert lowered() == before, "importing vae_jax changed jax.random.bits' lowering"
        assert vae_jax.__file__.startswith(REPO), vae_jax.__file__
    """)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run([sys.executable, "-c", f"REPO = {repo!r}\n" + script], cwd=repo,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the scope only changes CPU programs")
def test_unrolled_scope_gives_the_published_bits_and_is_undone_on_leaving():
    rolled = _compiled_bits(0)
    assert "while" in rolled  # jax's own CPU lowering is the rolled loop
    with fast_threefry.unrolled_on_cpu() as active:
        assert active
        out = jax.jit(jax_random.threefry_2x32)(jnp.array(fast_threefry.KNOWN_KEY, jnp.uint32),
                                                jnp.array(fast_threefry.KNOWN_COUNT, jnp.uint32))
        np.testing.assert_array_equal(out, np.array(fast_threefry.KNOWN_BITS, np.uint32))
        assert "while" not in _compiled_bits(1)  # the rolled loop is what made the draw slow
        inside = np.asarray(jax.jit(lambda k: jax.random.bits(k, (16, 784)))(jax.random.key(3)))
    assert "while" in _compiled_bits(2)  # jax's lowering is back
    outside = np.asarray(jax.jit(lambda k: jax.random.bits(k, (16, 784)))(jax.random.key(3)))
    np.testing.assert_array_equal(inside, outside)
    with fast_threefry.unrolled_on_cpu(enabled=False) as active:
        assert not active and "while" in _compiled_bits(3)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the scope only changes CPU programs")
@pytest.mark.parametrize("failure", ["wrong bits", "an exception"])
def test_a_failing_check_keeps_jax_lowering_with_a_warning(monkeypatch, failure):
    def failing_check(under_unrolled, under_rolled):
        if failure == "an exception":
            raise RuntimeError("a moved jax internal")
        return "gives other bits on purpose"

    monkeypatch.setattr(fast_threefry, "known_answer_failure", failing_check)
    monkeypatch.setattr(fast_threefry, "_verdict", {})
    with pytest.warns(RuntimeWarning, match="using jax's own lowering"):
        with fast_threefry.unrolled_on_cpu() as active:
            assert not active
            assert "while" in _compiled_bits(4)
