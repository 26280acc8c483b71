from spn_keras.sampling import ProgressBar

from progress_fakes import FakeClock
from progress_fakes import FakeStream
from progress_fakes import terminal_lines


def test_the_bar_fills_to_its_fraction():
  assert ProgressBar.bar(0.0, width=4) == "[>...]"
  assert ProgressBar.bar(0.5, width=4) == "[==>.]"
  assert ProgressBar.bar(1.0, width=4) == "[====]"


def test_off_a_terminal_lines_are_thinned_out_but_forced_and_final_ones_kept():
  clock, stream = FakeClock(), FakeStream(terminal=False)
  display = ProgressBar(stream, clock, min_line_seconds=10.0)
  for text, seconds, options in [("a", 0, {}), ("b", 4, {}), ("c", 4, {"force": True}),
                                 ("d", 4, {}), ("e", 6, {}), ("f", 1, {"final": True})]:
    clock.now += seconds
    display.show(text, **options)
  # "b" and "d" came within 10 s of the line before them.
  assert stream.getvalue() == "a\nc\ne\nf\n"
  assert display.elapsed() == 19.0


def test_on_a_terminal_every_state_redraws_the_line_and_clears_its_end():
  clock, stream = FakeClock(), FakeStream(terminal=True)
  display = ProgressBar(stream, clock, min_line_seconds=10.0)
  display.show("a much longer first state")
  display.show("short")
  assert terminal_lines(stream.getvalue()) == ["short"]
  display.show("end", final=True)
  assert terminal_lines(stream.getvalue()) == ["end", ""]
  clock.now += 3
  assert display.lap() == 3 and display.lap() == 0
