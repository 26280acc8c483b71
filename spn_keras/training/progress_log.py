"""`ProgressLog`: the progress lines of a training run, in the style of Keras's `Progbar`."""

import time

from spn_keras.sampling.sampling_progress import clock_text

# A line appears at least this often (seconds of wall time), however large `log_every` is.
MAX_SILENCE_SECONDS = 30.0


class ProgressLog:
  """Writes one line per logged step, per evaluation and per resumption of a training run.

  A step line, every `log_every` steps, at the last step, and whenever `max_silence` seconds
  passed since the previous line (so a slow run is never silent for long):

    step 40/2000  train 1.234 bits/dim  12.3 examples/s  ETA 1:02:03

  The rate (examples/s) and the ETA are measured from the end of the run's first step, so
  that the first step's graph tracing and compilation do not count; the line of the first
  step itself says how long it took (`first step 23.4 s`). An evaluation writes
  `step 2000 eval 1.111 bits/dim`, a run that resumes from a checkpoint `resumed from step N`.

  Args:
    write: a callable that receives each line (a str without its newline), e.g. a writer to
      stderr; None writes nothing.
    total_steps: the step the run stops at (`TrainerConfig.train_steps`).
    batch_size: examples per step (the global batch size).
    log_every: steps between lines (>= 1).
    max_silence: seconds of wall time after which the next step writes a line anyway.
    clock: a function returning seconds (for tests).
  """

  def __init__(self, write, total_steps, batch_size, log_every,
               max_silence=MAX_SILENCE_SECONDS, clock=time.monotonic):
    self.write = write
    self.total_steps = total_steps
    self.batch_size = batch_size
    self.log_every = log_every
    self.max_silence = max_silence
    self.clock = clock
    self._start_time = self._line_time = clock()
    self._first = None  # (step, time) at the end of the run's first step

  def resumed(self, step):
    """Writes that the run resumes from the checkpoint of `step`."""
    left = (f": step {self.total_steps} reached, nothing to train"
            if step >= self.total_steps else "")
    self._write(f"resumed from step {step}{left}", self.clock())

  def step_done(self, step, bits_per_dim, final=False):
    """Records the end of `step` (training loss `bits_per_dim`); writes its line when due.

    Args:
      step: the step just done.
      bits_per_dim: its training bits/dim.
      final: whether it is the run's last step (a line always).
    """
    now = self.clock()
    if self._first is None:
      self._first = (step, now)
    if (final or step % self.log_every == 0 or now - self._line_time >= self.max_silence):
      self._write(self._step_line(step, bits_per_dim, now), now)

  def evaluated(self, step, results):
    """Writes the results (`{name: float}`, e.g. `{"bits_per_dim": 1.1}`) of an evaluation."""
    values = [f"{value:.3f} bits/dim" if name == "bits_per_dim" else f"{name} {value:.4g}"
              for name, value in results.items()]
    self._write(f"step {step} eval " + "  ".join(values), self.clock())

  def _step_line(self, step, bits_per_dim, now):
    parts = [f"step {step}/{self.total_steps}", f"train {bits_per_dim:.3f} bits/dim"]
    first_step, first_time = self._first
    if step > first_step and now > first_time:
      steps_per_second = (step - first_step) / (now - first_time)
      eta = (self.total_steps - step) / steps_per_second
      parts += [f"{steps_per_second * self.batch_size:.1f} examples/s",
                f"ETA {clock_text(eta)}"]
    else:  # the first step: its time is mostly tracing and compilation
      parts.append(f"first step {now - self._start_time:.1f} s")
    return "  ".join(parts)

  def _write(self, line, now):
    self._line_time = now
    if self.write is not None:
      self.write(line)
