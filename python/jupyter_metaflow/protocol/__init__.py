"""The frontend <-> kernel protocol: one versioned JSON Schema (``schema.json``) for both sides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMA_PATH = Path(__file__).with_name("schema.json")
SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
PROTOCOL_VERSION: str = SCHEMA["version"]
COMM_TARGET = "jupyter_metaflow"
MESSAGE_TYPES: frozenset[str] = frozenset(SCHEMA["messages"])


class ProtocolError(ValueError):
    """A message that does not follow ``schema.json``."""


def envelope(msg_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Wrap ``payload`` as a message of ``msg_type``, validating it first."""
    message = {"protocol": PROTOCOL_VERSION, "type": msg_type, "payload": payload}
    validate(message)
    return message


def is_compatible(version: str) -> bool:
    """Whether a peer speaking ``version`` can talk to us (same major version)."""
    return version.split(".")[0] == PROTOCOL_VERSION.split(".")[0]


def _validator(ref: str) -> jsonschema.protocols.Validator:
    """A validator for ``#/definitions/...`` or ``#/messages/...`` (the schema is checked once)."""
    cls = jsonschema.validators.validator_for(SCHEMA)
    return cls({**SCHEMA, "$ref": ref})


jsonschema.validators.validator_for(SCHEMA).check_schema(SCHEMA)
_ENVELOPE = _validator("#/definitions/envelope")
_PAYLOADS = {name: _validator(f"#/messages/{name}") for name in MESSAGE_TYPES}


def validate(message: Any) -> dict[str, Any]:
    """Check ``message`` against the envelope and its type's payload schema; return it."""
    error = jsonschema.exceptions.best_match(_ENVELOPE.iter_errors(message))
    if error is not None:
        raise ProtocolError(f"malformed message: {error.message}")
    if not is_compatible(message["protocol"]):
        raise ProtocolError(
            f"protocol {message['protocol']} is not compatible with {PROTOCOL_VERSION}"
        )
    msg_type = message["type"]
    if msg_type in _PAYLOADS:
        error = jsonschema.exceptions.best_match(_PAYLOADS[msg_type].iter_errors(message["payload"]))
        if error is not None:
            raise ProtocolError(f"malformed {msg_type!r} payload: {error.message}")
    return message
