"""The bad-input probe of issue 27 (tests/bad_input_probe.py) as tests: every refused input gets
a clear error naming the argument, flag or file, every accepted one a right result, and nothing
is silent, hangs or ends in a raw internal error.

In-process cases run in the default suite, the hang-prone ones in one worker process (killed at
a case's deadline); the command-line cases start TensorFlow once each, so they are `slow`.
"""

import subprocess
import threading

import pytest

import bad_input_probe as probe

CONTEXT = probe.ProbeContext()
CASES = probe.all_cases(CONTEXT)
IN_PROCESS = [case for case in CASES if not case.isolated and not case.cli]
ISOLATED = [case for case in CASES if case.isolated]
CLI = [case for case in CASES if case.cli]


def _case_id(case):
  return case.id


@pytest.fixture(scope="session", autouse=True)
def _probe_context():
  """The probe's context, closed at the end of the session.

  Not at the end of the module: a worker process may run this module's tests in several
  stretches, and the cases hold the context's folders.
  """
  yield CONTEXT
  CONTEXT.close()


@pytest.fixture(scope="module")
def isolated_outcomes():
  """The `Outcome`s of the hang-prone cases, run together in one worker process."""
  return probe.run_isolated(CONTEXT, ISOLATED)


def _assert_good(case, outcome):
  good = probe.GOOD_OUTCOME[case.expect]
  assert outcome.outcome == good, (
      f"{case.id}: {outcome.outcome} ({outcome.error}: {outcome.message}), expected {good}")


@pytest.mark.parametrize("case", IN_PROCESS, ids=_case_id)
def test_in_process_case(case):
  _assert_good(case, probe.run_case(case))


@pytest.mark.xdist_group("hang_prone_cases")  # one worker starts the probe's process, once
@pytest.mark.parametrize("case", ISOLATED, ids=_case_id)
def test_hang_prone_case(case, isolated_outcomes):
  _assert_good(case, isolated_outcomes[case.id])


@pytest.mark.slow
@pytest.mark.parametrize("case", CLI, ids=_case_id)
def test_cli_case(case):
  _assert_good(case, probe.run_case(case))


def test_the_probe_covers_api_and_clis_with_unique_ids():
  assert 80 <= len(CASES) - len(CLI) <= 130 and 10 <= len(CLI) <= 20 and ISOLATED
  assert len({case.id for case in CASES}) == len(CASES)
  assert {case.expect for case in CASES} == {"refuse", "accept"}


# The runner's classification, on synthetic cases.
def _raise(error):
  def call():
    raise error
  return call


@pytest.mark.parametrize("call, expect, outcome, message", [
    (lambda: 1, "refuse", "silent", "no error; returned 1"),
    (lambda: 1, "accept", "accepted", ""),
    (_raise(ValueError("`seed` must be an int, got 1.5.")), "refuse", "clear", "`seed` must"),
    (_raise(ValueError("bad value")), "refuse", "internal", "does not name ['`seed`']"),
    (_raise(KeyError("sha256")), "refuse", "internal", "'sha256'"),
    (_raise(AttributeError("`seed` has no attribute")), "refuse", "internal", "`seed` has"),
    (_raise(ValueError("`seed` must be an int")), "accept", "clear", "`seed` must"),
])
def test_run_case_classifies_errors_by_kind_and_by_what_they_name(call, expect, outcome,
                                                                  message):
  result = probe.run_case(probe.Case("synthetic", call, expect, names=("`seed`",)))
  assert (result.outcome, result.ok) == (outcome, outcome == probe.GOOD_OUTCOME[expect])
  assert message in result.message


def test_run_case_reports_a_failed_check_as_silent():
  def damaged(_):
    raise AssertionError("victim deleted")

  refused = probe.run_case(probe.Case("synthetic", _raise(ValueError("`path` exists")),
                                      "refuse", names=("`path`",), check=damaged))
  accepted = probe.run_case(probe.Case("synthetic", lambda: 1, "accept", check=damaged))
  assert (refused.outcome, accepted.outcome) == ("silent", "silent")
  assert "victim deleted" in refused.message and "victim deleted" in accepted.message


def test_run_case_reports_a_call_past_its_deadline_as_a_hang():
  never_set = threading.Event()
  result = probe.run_case(probe.Case("synthetic", never_set.wait, "refuse", names=("x",),
                                     timeout=0.05))
  assert result.outcome == "hang" and result.message == "over 0.05 s"


@pytest.mark.parametrize("returncode, stderr, outcome", [
    (2, "spn_train: error: --batch_size must be a positive int, got 0.\n", "clear"),
    (2, "spn_train: error: `global_batch_size` must be a positive int, got 0.\n", "internal"),
    (2, "spn_train: error: --batch_size must be a positive int\nmore\n", "internal"),
    (1, "Traceback (most recent call last):\nValueError: --batch_size\n", "internal"),
    (0, "", "silent"),
])
def test_cli_outcomes_need_status_2_and_one_line_naming_the_flag(returncode, stderr, outcome):
  case = probe.Case("synthetic", None, "refuse", names=("--batch_size",), cli=True)
  run = subprocess.CompletedProcess(["spn_train"], returncode, stdout="{}", stderr=stderr)
  assert probe.classify_cli(case, run)[0] == outcome
