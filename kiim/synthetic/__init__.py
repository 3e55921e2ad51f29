"""Internals of the synthetic data generator; the public API is `kiim.generate`."""
