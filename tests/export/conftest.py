"""Fixtures of the export tests: no network, and a fake Hub that ``huggingface_hub.HfApi()`` returns."""

from __future__ import annotations

import socket

import huggingface_hub
import pytest

from .fake_hub import FakeApi


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def hub(monkeypatch, no_network):
    """Online, with a token; returns a function installing the fake Hub that HfApi() gives."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_test_token")

    def install(api: FakeApi) -> FakeApi:
        monkeypatch.setattr(huggingface_hub, "HfApi", lambda token=None: api)
        return api

    return install
