"""Decoding a channel's payload: the size and nesting bounds hold exactly at their limits,
brackets inside strings never count, and every refusal says why."""

from __future__ import annotations

import json

import pytest

from energy_core.telemetry.payload import MAX_DEPTH, PayloadError, decode_json, nesting_exceeds


def nested(depth: int, opening: str = "[", closing: str = "]") -> bytes:
    """``depth`` levels of one bracket kind (objects nest as ``{"a": …}``)."""
    if opening == "{":
        return ('{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)).encode()
    return (opening * depth + closing * depth).encode()


def test_a_payload_of_exactly_the_size_limit_is_decoded_and_one_byte_more_is_refused():
    raw = json.dumps(["x" * 90]).encode()
    assert decode_json(raw, max_bytes=len(raw)) == ["x" * 90]
    with pytest.raises(PayloadError, match=rf"^payload over {len(raw) - 1} bytes$"):
        decode_json(raw, max_bytes=len(raw) - 1)


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ("{", "}")])
def test_nesting_up_to_the_limit_is_decoded_and_one_level_more_is_refused(opening, closing):
    assert decode_json(nested(MAX_DEPTH, opening, closing), max_bytes=10_000) is not None
    with pytest.raises(PayloadError, match=rf"^nested deeper than {MAX_DEPTH} levels$"):
        decode_json(nested(MAX_DEPTH + 1, opening, closing), max_bytes=10_000)


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_the_depth_is_counted_exactly(depth):
    raw = nested(depth)
    assert not nesting_exceeds(raw, depth)
    assert nesting_exceeds(raw, depth - 1)


def test_mixed_arrays_and_objects_count_together():
    raw = b'[{"a": [{"b": []}]}]'  # five levels
    assert not nesting_exceeds(raw, 5)
    assert nesting_exceeds(raw, 4)


def test_many_brackets_side_by_side_are_not_depth():
    raw = b"[" + b"[[]]," * 20 + b"[[]]]"  # 43 opening brackets, three levels
    assert not nesting_exceeds(raw, 3)
    assert nesting_exceeds(raw, 2)


def test_brackets_inside_strings_do_not_count():
    raw = json.dumps(["[" * 50 + "{" * 50]).encode()
    assert decode_json(raw, max_bytes=10_000) == ["[" * 50 + "{" * 50]


def test_an_escaped_quote_does_not_end_a_string():
    # Were the escaped quote taken as the end, the brackets after it would count.
    text = 'say \\"' + "[" * 40
    raw = f'["{text}"]'.encode()
    assert not nesting_exceeds(raw, 2)
    assert decode_json(raw, max_bytes=10_000) == [json.loads(f'"{text}"')]


def test_an_escaped_backslash_before_a_quote_ends_the_string():
    # "a\\" is a string holding one backslash: the brackets after it are structure.
    raw = b'["a\\\\", ' + nested(20) + b"]"
    assert nesting_exceeds(raw, 16)
    with pytest.raises(PayloadError, match="nested deeper than 16 levels"):
        decode_json(raw, max_bytes=10_000)


def test_invalid_json_is_refused_with_its_line_and_column():
    with pytest.raises(PayloadError, match=r"^invalid JSON at line 2, column 1: "):
        decode_json(b'{"a":\n}', max_bytes=100)


def test_bytes_that_are_not_utf8_are_refused_naming_the_first_bad_byte():
    with pytest.raises(PayloadError, match=r"^not UTF-8 \(byte 3\)$"):
        decode_json(b'["a\xff"]', max_bytes=100)


def test_nan_is_decoded_for_validation_to_refuse_field_by_field():
    decoded = decode_json(b'{"voltage": NaN}', max_bytes=100)
    assert isinstance(decoded, dict) and decoded["voltage"] != decoded["voltage"]
