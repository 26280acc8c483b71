"""Fakes for the tests of progress displays: a clock moved by hand, a captured stream that is a
terminal or not, and what a terminal shows after the text written to it."""

import io
import re


class FakeClock:
  """A clock that stays at `now` until a test moves it."""

  def __init__(self, now=100.0):
    self.now = now

  def __call__(self):
    return self.now


class FakeStream(io.StringIO):
  """A captured stream that says it is a terminal (`terminal=True`) or not."""

  def __init__(self, terminal):
    super().__init__()
    self.terminal = terminal

  def isatty(self):
    return self.terminal


def terminal_lines(text):
  """The lines a terminal shows after `text` (`\\r` returns to the line's start, `\\x1b[K`
  erases from the cursor to the line's end, other text overwrites what is under it)."""
  lines, column = [""], 0
  for part in re.split(r"(\r|\n|\x1b\[K)", text):
    if part == "\r":
      column = 0
    elif part == "\n":
      lines.append("")
      column = 0
    elif part == "\x1b[K":
      lines[-1] = lines[-1][:column]
    else:
      lines[-1] = lines[-1][:column] + part + lines[-1][column + len(part):]
      column += len(part)
  return lines
