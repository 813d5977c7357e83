"""The protocol module validates envelopes against schema.json."""

import pytest

from jupyter_metaflow import protocol


def test_envelope_round_trip():
    msg = protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    assert msg == {
        "protocol": protocol.PROTOCOL_VERSION,
        "type": "hello",
        "payload": {"side": "frontend", "package_version": "0.1.0"},
    }
    assert protocol.validate(msg) is msg


@pytest.mark.parametrize(
    "message, fragment",
    [
        ("hello", "malformed message"),
        ({"type": "hello", "payload": {}}, "'protocol' is a required property"),
        ({"protocol": "1", "type": "hello", "payload": {}}, "does not match"),
        ({"protocol": "99.0", "type": "hello", "payload": {}}, "not compatible"),
        (
            {"protocol": protocol.PROTOCOL_VERSION, "type": "hello", "payload": {"side": "x"}},
            "malformed 'hello' payload",
        ),
    ],
)
def test_invalid_messages_are_rejected(message, fragment):
    with pytest.raises(protocol.ProtocolError, match=fragment):
        protocol.validate(message)


def test_minor_versions_are_compatible_majors_are_not():
    major = protocol.PROTOCOL_VERSION.split(".")[0]
    assert protocol.is_compatible(f"{major}.99")
    assert not protocol.is_compatible(f"{int(major) + 1}.0")


def test_unknown_message_types_pass_the_envelope_check():
    msg = {"protocol": protocol.PROTOCOL_VERSION, "type": "from-the-future", "payload": {}}
    assert protocol.validate(msg) is msg


def test_the_schema_is_a_valid_json_schema():
    import jsonschema

    jsonschema.validators.validator_for(protocol.SCHEMA).check_schema(protocol.SCHEMA)


def _example(schema, root, depth=0):
    """A minimal instance of ``schema`` (required properties only), or None if none is found."""
    if "$ref" in schema:
        node = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return _example(node, root, depth + 1)
    if "oneOf" in schema:
        return _example(schema["oneOf"][0], root, depth + 1)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _example(props.get(k, {}), root, depth + 1) for k in schema.get("required", [])}
    if kind == "array":
        return [_example(schema.get("items", {}), root, depth + 1)] * schema.get("minItems", 0)
    return {
        "string": "1.0" if "pattern" in schema else "x",
        "integer": schema.get("minimum", 0),
        "number": schema.get("minimum", 0.5),
        "boolean": True,
        "null": None,
    }[kind]


def test_the_fast_validators_agree_with_jsonschema():
    """Valid examples of every message and each mutation of them (a property dropped, given
    another type, an unknown one added) get the same verdict from both validators."""
    import copy

    import fastjsonschema
    import jsonschema

    schema = protocol.SCHEMA
    checked = 0
    for name in sorted(protocol.MESSAGE_TYPES):
        fast = fastjsonschema.compile({**copy.deepcopy(schema), "$ref": f"#/messages/{name}"})
        slow = jsonschema.validators.validator_for(schema)({**schema, "$ref": f"#/messages/{name}"})
        example = _example(schema["messages"][name], schema)
        assert slow.is_valid(example), (name, example)
        mutations = [example]
        for key in list(example) if isinstance(example, dict) else []:
            mutations.append({k: v for k, v in example.items() if k != key})
            mutations += [
                {**example, key: other} for other in (None, True, 1, 1.5, "x", [], {}, -1)
            ]
        if isinstance(example, dict):
            mutations.append({**example, "unknown_property": 1})
        for instance in mutations:
            try:
                fast(instance)
                fast_ok = True
            except fastjsonschema.JsonSchemaException:
                fast_ok = False
            assert fast_ok == slow.is_valid(instance), (name, instance)
            checked += 1
    assert checked > 100


def test_checking_messages_leaves_the_schema_as_it_was():
    import json

    protocol.envelope("hello", {"side": "frontend", "package_version": "0.1.0"})
    with pytest.raises(protocol.ProtocolError):
        protocol.validate({"protocol": protocol.PROTOCOL_VERSION, "type": "hello", "payload": {}})
    assert json.loads(protocol.SCHEMA_PATH.read_text(encoding="utf-8")) == protocol.SCHEMA


def test_a_message_is_checked_without_importing_jsonschema():
    import subprocess
    import sys

    code = (
        "import sys; from jupyter_metaflow import protocol; "
        "protocol.envelope('hello', {'side': 'frontend', 'package_version': '0.1.0'}); "
        "print('jsonschema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
