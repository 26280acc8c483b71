"""Samplers: the cached (incremental) slice sampler used by every stage by default."""

from spn_keras.sampling.cached_slice_sampler import CachedSliceSampler

__all__ = ["CachedSliceSampler"]
