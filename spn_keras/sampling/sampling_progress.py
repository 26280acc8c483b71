"""`SamplingProgress`: one progress bar over all the slices of all the stages being sampled."""

import sys
import time


def clock_text(seconds):
  """`seconds` as `M:SS` (or `H:MM:SS`)."""
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class SamplingProgress:
  """A text progress bar over the slices a sample generates, with a cost-weighted ETA.

  Each slice counts for its estimated cost (`AutoregressiveImageModel.slice_sampling_cost`),
  not as one step, so the bar and the estimated time left stay honest when the stages differ
  in size: the ETA is the elapsed time per unit of cost done, times the cost left. (The first
  slice of each stage includes its compilation, so early estimates lean long.)

  Args:
    work: `[(stage name, number of slices, cost of one slice), ...]` in generation order.
    stream: where the bar is written (default `sys.stderr`, so that a tool's standard output
      stays its result); on a terminal the bar redraws in place, elsewhere each update is a
      line.
    clock: a function returning seconds (for tests).
  """

  def __init__(self, work, stream=None, clock=time.monotonic):
    self.work = list(work)
    self.stream = stream or sys.stderr
    self.clock = clock
    self.total_cost = float(sum(count * cost for _, count, cost in self.work))
    self.done_cost = 0.0
    self.slices_done = {name: 0 for name, _, _ in self.work}
    self.start_time = clock()
    self._interactive = getattr(self.stream, "isatty", lambda: False)()

  def slice_done(self, stage):
    """Records one finished slice of `stage` and redraws the bar."""
    for name, count, cost in self.work:
      if name == stage:
        if self.slices_done[name] >= count:
          raise ValueError(f"Stage {stage!r} has only {count} slices to sample.")
        self.slices_done[name] += 1
        self.done_cost += cost
        self._draw(name, count)
        return
    raise ValueError(f"Unknown stage {stage!r}; expected one of {list(self.slices_done)}.")

  @property
  def fraction(self):
    """Share of the estimated cost done, in `[0, 1]`."""
    return self.done_cost / self.total_cost if self.total_cost else 1.0

  def eta_seconds(self):
    """Estimated seconds left: elapsed time per unit of cost done, times the cost left."""
    if self.done_cost == 0:
      return None
    elapsed = self.clock() - self.start_time
    return elapsed / self.done_cost * (self.total_cost - self.done_cost)

  def _draw(self, stage, count):
    width = 30
    filled = int(width * self.fraction)
    bar = "=" * filled + (">" if filled < width else "") + "." * max(0, width - filled - 1)
    elapsed = self.clock() - self.start_time
    finished = self.done_cost >= self.total_cost
    tail = (f"{clock_text(elapsed)} in all" if finished else
            f"{clock_text(elapsed)} elapsed, ETA {clock_text(self.eta_seconds())}")
    line = (f"{stage} slice {self.slices_done[stage]}/{count} [{bar}] "
            f"{100 * self.fraction:3.0f}% {tail}")
    if self._interactive:
      self.stream.write("\r" + line + ("\n" if finished else ""))
    else:
      self.stream.write(line + "\n")
    self.stream.flush()
