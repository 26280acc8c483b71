"""Sampling and coding a stage: the methods every stage inherits (`StageSampling`: `sample`,
`code_slices`, the memory and cost estimates), the cached (incremental) slice sampler they run
by default, the sub-pixel choice (Gumbel-max) and the progress bars."""

from spn_keras.sampling.cached_slice_sampler import CachedSliceSampler
from spn_keras.sampling.progress_bar import ProgressBar
from spn_keras.sampling.sampling_progress import SamplingProgress
from spn_keras.sampling.stage_sampling import StageSampling

__all__ = ["CachedSliceSampler", "ProgressBar", "SamplingProgress", "StageSampling"]
