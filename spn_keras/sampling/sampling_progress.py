"""`SamplingProgress`: one progress bar over all the slices of all the stages being sampled."""

import time

from spn_keras.sampling.progress_bar import ProgressBar
from spn_keras.sampling.progress_bar import clock_text


class SamplingProgress:
  """A text progress bar over the slices a sample generates, with a cost-weighted ETA.

  Each slice counts for its estimated cost (`AutoregressiveImageModel.slice_sampling_cost`),
  not as one step, so the bar and the estimated time left stay honest when the stages differ
  in size. The first slice of each stage includes the tracing and XLA compilation of the
  stage's slice program (seconds, against milliseconds for the next ones), so it is not
  measured with the others: the ETA is the time per unit of cost of the slices after the
  first ones, times the cost left, plus, for each stage yet to start, the mean time that the
  first slices took beyond their cost (the preparation of a program); there is none until a
  slice after a stage's first one is done. When a stage is about to
  sample its first slice (at the start, then when the stage before it is done), a line says
  that its program is being prepared; on a terminal the bar then redraws over it.

  Args:
    work: `[(stage name, number of slices, cost of one slice), ...]` in generation order.
    stream: where the bar is written (default `sys.stderr`, so that a tool's standard output
      stays its result); on a terminal the bar redraws in place, elsewhere each update is a
      line.
    clock: a function returning seconds (for tests).
  """

  def __init__(self, work, stream=None, clock=time.monotonic):
    self.work = list(work)
    self._display = ProgressBar(stream, clock)
    self.stream = self._display.stream
    self.clock = clock
    self.total_cost = float(sum(count * cost for _, count, cost in self.work))
    self.done_cost = 0.0
    self.slices_done = {name: 0 for name, _, _ in self.work}
    self.start_time = self._display.start_time
    # Seconds and cost of the slices measured so far (not the first of a stage).
    self._measured_seconds = 0.0
    self._measured_cost = 0.0
    self._first_slices = []  # (seconds, cost) of the first slice of each stage
    to_sample = [name for name, count, _ in self.work if count]
    if to_sample:
      self.stage_started(to_sample[0])

  def stage_started(self, stage):
    """Says that `stage` prepares its slice program, if none of its slices is done yet.

    Called at the start for the first stage and after the last slice of a stage for the next
    one; a caller that interleaves the stages (several batches) may call it itself.

    Args:
      stage: the name of a stage of `work`.

    Raises:
      ValueError: `stage` is not one of `work`.
    """
    self._entry(stage)
    if not self.slices_done[stage]:
      self._display.show(f"{stage}: preparing the slice program (tracing and compiling on "
                         f"first use)...", force=True)

  def slice_done(self, stage):
    """Records one finished slice of `stage` and redraws the bar.

    Args:
      stage: the name of a stage of `work`.

    Raises:
      ValueError: `stage` is not one of `work`, or all its slices are done.
    """
    _, count, cost = self._entry(stage)
    if self.slices_done[stage] >= count:
      raise ValueError(f"Stage {stage!r} has only {count} slices to sample.")
    seconds = self._display.lap()
    self.slices_done[stage] += 1
    self.done_cost += cost
    if self.slices_done[stage] > 1:
      self._measured_seconds += seconds
      self._measured_cost += cost
    else:  # it includes preparing the program
      self._first_slices.append((seconds, cost))
    self._draw(stage, count)
    position = [name for name, _, _ in self.work].index(stage)
    following = [name for name, n, _ in self.work[position + 1:] if n]
    if self.slices_done[stage] == count and following:
      self.stage_started(following[0])

  @property
  def fraction(self):
    """Share of the estimated cost done, in `[0, 1]`."""
    return self.done_cost / self.total_cost if self.total_cost else 1.0

  def eta_seconds(self):
    """Estimated seconds left: the time per unit of cost of the slices measured (those after
    the first slice of each stage) times the cost left, plus the mean preparation time of the
    stages started for each stage yet to start; None until a slice is measured."""
    if self._measured_cost == 0:
      return None
    rate = self._measured_seconds / self._measured_cost
    waiting = sum(1 for name, count, _ in self.work if count and not self.slices_done[name])
    preparation = sum(max(0.0, seconds - cost * rate) for seconds, cost in self._first_slices)
    return (rate * (self.total_cost - self.done_cost)
            + waiting * preparation / len(self._first_slices))

  def _entry(self, stage):
    for entry in self.work:
      if entry[0] == stage:
        return entry
    raise ValueError(f"Unknown stage {stage!r}; expected one of {list(self.slices_done)}.")

  def _draw(self, stage, count):
    elapsed = clock_text(self._display.elapsed())
    finished = self.done_cost >= self.total_cost
    eta = self.eta_seconds()
    tail = (f"{elapsed} in all" if finished else
            f"{elapsed} elapsed" + ("" if eta is None else f", ETA {clock_text(eta)}"))
    self._display.show(f"{stage} slice {self.slices_done[stage]}/{count} "
                       f"{ProgressBar.bar(self.fraction)} {100 * self.fraction:3.0f}% {tail}",
                       final=finished)
