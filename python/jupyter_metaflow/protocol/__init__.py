"""The frontend <-> kernel protocol: one versioned JSON Schema (``schema.json``) for both sides.

Messages are checked by validators ``fastjsonschema`` compiles from the schema, one per message
type on first use: importing ``jsonschema`` builds its format checkers' grammars (about two
seconds), which every ``%load_ext`` would pay. Only a message that fails the check imports
``jsonschema``, to say what is wrong in its words (``best_match``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


_compiled: dict[str, Callable[[Any], Any]] = {}
"""``$ref`` -> its compiled validator (built on first use)."""


def _problem(ref: str, instance: Any) -> str | None:
    """None when ``instance`` is valid against ``ref`` (``#/definitions/...`` or
    ``#/messages/...``), else what is wrong with it."""
    import fastjsonschema

    check = _compiled.get(ref)
    if check is None:
        # a copy: fastjsonschema writes into the schema it compiles
        check = _compiled[ref] = fastjsonschema.compile({**copy.deepcopy(SCHEMA), "$ref": ref})
    try:
        check(instance)
        return None
    except fastjsonschema.JsonSchemaException:
        pass
    import jsonschema

    validator = jsonschema.validators.validator_for(SCHEMA)({**SCHEMA, "$ref": ref})
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    return None if error is None else error.message


def validate(message: Any) -> dict[str, Any]:
    """Check ``message`` against the envelope and its type's payload schema; return it."""
    problem = _problem("#/definitions/envelope", message)
    if problem is not None:
        raise ProtocolError(f"malformed message: {problem}")
    if not is_compatible(message["protocol"]):
        raise ProtocolError(
            f"protocol {message['protocol']} is not compatible with {PROTOCOL_VERSION}"
        )
    msg_type = message["type"]
    if msg_type in MESSAGE_TYPES:
        problem = _problem(f"#/messages/{msg_type}", message["payload"])
        if problem is not None:
            raise ProtocolError(f"malformed {msg_type!r} payload: {problem}")
    return message
