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
        ({"protocol": protocol.PROTOCOL_VERSION, "type": "hello", "payload": {"side": "x"}},
         "malformed 'hello' payload"),
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
