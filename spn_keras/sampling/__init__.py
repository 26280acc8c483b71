"""Samplers: the cached (incremental) slice sampler used by every stage by default."""

from spn_keras.sampling.cached_slice_sampler import CachedSliceSampler
from spn_keras.sampling.progress_bar import ProgressBar
from spn_keras.sampling.sampling_progress import SamplingProgress

__all__ = ["CachedSliceSampler", "ProgressBar", "SamplingProgress"]
