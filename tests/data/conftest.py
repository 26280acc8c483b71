"""Input-pipeline tests never touch the network."""

import socket

import pytest


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
  """Fails any Python-level attempt to open a network connection."""

  def refuse(*args, **kwargs):
    raise AssertionError(f"A data test tried to use the network: {args!r}")

  monkeypatch.setattr(socket.socket, "connect", refuse)
  monkeypatch.setattr(socket, "create_connection", refuse)
