"""`ProgressBar`: the drawing shared by the progress displays (sampling, evaluation)."""

import sys
import time


def clock_text(seconds):
  """`seconds` as `M:SS` (or `H:MM:SS`)."""
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


# Erases from the cursor to the end of the line (ANSI "erase in line").
CLEAR_TO_END_OF_LINE = "\x1b[K"


class ProgressBar:
  """Writes the successive states of a progress display to a stream.

  On a terminal each state redraws the same line in place (`\\r`, the text, then the rest of
  the previous, maybe longer, text erased), and the final state ends the line. Elsewhere (a
  file, a pipe, a test's captured stderr) each state is a line of its own; `min_line_seconds`
  then thins out the ordinary updates. The displays using it (`SamplingProgress`, spn_eval's
  bar over batches) compose the text; this class draws it and keeps the time.

  Args:
    stream: where the lines go (default `sys.stderr`, so that a tool's standard output stays
      its result).
    clock: a function returning seconds (for tests).
    min_line_seconds: off a terminal, an update that is not forced writes a line only when
      this many seconds passed since the previous line (0: every update is a line).
  """

  def __init__(self, stream=None, clock=time.monotonic, min_line_seconds=0.0):
    self.stream = stream or sys.stderr
    self.clock = clock
    self.min_line_seconds = min_line_seconds
    self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
    self.start_time = self._lap_time = clock()
    self._line_time = None  # when the previous line was written (off a terminal)

  def elapsed(self):
    """Seconds since the display started."""
    return self.clock() - self.start_time

  def lap(self):
    """Seconds since the previous `lap` (or since the start), e.g. the time of one step."""
    now = self.clock()
    seconds, self._lap_time = now - self._lap_time, now
    return seconds

  @staticmethod
  def bar(fraction, width=30):
    """`[=====>......]`, filled to `fraction` (in `[0, 1]`) of `width` characters."""
    filled = int(width * min(max(fraction, 0.0), 1.0))
    return ("[" + "=" * filled + (">" if filled < width else "")
            + "." * max(0, width - filled - 1) + "]")

  def show(self, text, final=False, force=False):
    """Draws `text` as the display's current state.

    Args:
      text: the state, one line without its newline.
      final: the last state: on a terminal the line is ended, elsewhere always written.
      force: off a terminal, write it even within `min_line_seconds` of the previous line
        (e.g. a message that a long phase starts).
    """
    now = self.clock()
    if self.interactive:
      self.stream.write("\r" + text + CLEAR_TO_END_OF_LINE + ("\n" if final else ""))
    elif (final or force or self._line_time is None
          or now - self._line_time >= self.min_line_seconds):
      self.stream.write(text + "\n")
      self._line_time = now
    else:
      return
    self.stream.flush()
