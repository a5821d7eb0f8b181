"""The committed AsyncAPI document is what FastStream generates from the code now."""

from __future__ import annotations

from pathlib import Path

import yaml

from driftloop.asyncapi import render
from driftloop_contracts import TOPICS

DOCUMENT = Path(__file__).parent.parent / "docs" / "asyncapi.yaml"


def test_committed_asyncapi_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(), (
        "docs/asyncapi.yaml is stale: run `uv run driftloop asyncapi` and commit it"
    )


def test_asyncapi_document_covers_every_topic_with_a_payload_schema() -> None:
    document = yaml.safe_load(render())
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert addresses == set(TOPICS)
    for name, message in document["components"]["messages"].items():
        assert message["payload"], f"{name} has no payload schema"
