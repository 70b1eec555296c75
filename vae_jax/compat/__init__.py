"""Adapters to other libraries' non-public code, one module per library.

vae_jax otherwise uses public APIs only. Each adapter holds every reach into its library's
internals, checks that the installed version still has them, and fails with a clear message
(or, for an optional speed-up, warns and does without) instead of a traceback from deep inside
the library.
"""
