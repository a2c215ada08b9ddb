"""The chat file checks and the multi-part naming convention, as plain functions."""

from __future__ import annotations

import json

import pytest

from symbl_dagster import chats
from symbl_dagster.chats import ChatFileError, parse_chat
from symbl_dagster.parts import MultiPartError, Part, PartIndex, part_of


def _message(**fields: object) -> dict[str, object]:
    return {"payload": {"content": "Hello there"}, **fields}


def test_a_chat_with_and_without_timings() -> None:
    timed = _message(duration={"startTime": "2026-03-02T10:00:00Z", "endTime": "2026-03-02T10:00:04.5+00:00"})
    chat = parse_chat(json.dumps({"messages": [timed, _message(**{"from": {"name": "Ann"}})]}).encode(), "c.json")
    assert not chat.timed and len(chat.messages) == 2
    assert chat.messages[1]["from"] == {"name": "Ann"}
    assert parse_chat(json.dumps({"messages": [timed]}).encode(), "c.json").timed


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"\xff\xfe", "c.json: not UTF-8 text"),
        (b'{"messages": [', "c.json: not valid JSON (Expecting value at line 1, column 15)"),
        (b"[]", 'c.json: expected an object with a non-empty "messages" list'),
        (b'{"messages": []}', 'c.json: expected an object with a non-empty "messages" list'),
        (b'{"messages": ["hi"]}', "c.json: messages[0] is not an object"),
        (b'{"messages": [{"payload": {"content": " "}}]}', "messages[0].payload.content is required"),
        (json.dumps({"messages": [_message(**{"from": "Ann"})]}).encode(), "messages[0].from must be an object"),
        (
            json.dumps({"messages": [_message(duration={"startTime": "2026-03-02T10:00:00Z"})]}).encode(),
            "messages[0].duration needs both startTime and endTime",
        ),
        (
            json.dumps({"messages": [_message(duration={"startTime": "noon", "endTime": "one"})]}).encode(),
            "messages[0].duration.startTime is not an ISO 8601 time: 'noon'",
        ),
        (
            json.dumps(
                {
                    "messages": [
                        _message(duration={"startTime": "2026-03-02T10:00:00", "endTime": "2026-03-02T10:00:01"})
                    ]
                }
            ).encode(),
            "messages[0].duration.startTime has no time zone",
        ),
        (
            json.dumps(
                {
                    "messages": [
                        _message(duration={"startTime": "2026-03-02T10:00:09Z", "endTime": "2026-03-02T10:00:01Z"})
                    ]
                }
            ).encode(),
            "messages[0].duration.endTime is before its startTime",
        ),
    ],
)
def test_a_bad_chat_file_says_what_is_wrong_and_where(data: bytes, problem: str) -> None:
    with pytest.raises(ChatFileError) as caught:
        parse_chat(data, "c.json")
    assert problem in str(caught.value)


def test_an_oversized_chat_file_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chats, "MAX_CHAT_BYTES", 10)
    with pytest.raises(ChatFileError, match="more than a chat file may have"):
        parse_chat(b'{"messages": [{"payload": {"content": "hi"}}]}', "c.json")


@pytest.mark.parametrize(
    ("key", "part"),
    [
        ("2024/06/call42.part1.wav", Part("2024/06/call42", 1)),
        ("call42.part12.mp3", Part("call42", 12)),
        ("thread.part2.json", Part("thread", 2)),
        ("call42.wav", None),
        ("call42.part0.wav", None),
        ("call42.part01.wav", None),
        ("call42.part1", None),
        ("part1/call.wav", None),
    ],
)
def test_the_part_naming_convention(key: str, part: Part | None) -> None:
    assert part_of(key) == part


def test_a_parts_neighbours_and_a_part_claimed_twice() -> None:
    index = PartIndex(["a/c.part1.wav", "a/c.part2.mp3", "a/c.part4.wav", "a/lone.wav", "b/c.part2.wav"])
    assert index.first("a/c.part2.mp3") == "a/c.part1.wav"
    assert index.previous("a/c.part2.mp3") == "a/c.part1.wav"
    assert index.previous("a/c.part4.wav") is None  # part 3 has not arrived
    assert index.previous("a/c.part1.wav") is None and index.first("a/lone.wav") == "a/lone.wav"
    assert index.parts("a/c.part1.wav") == ["a/c.part1.wav", "a/c.part2.mp3"]  # up to the first gap
    assert index.first("b/c.part2.wav") is None  # another folder, another call
    twice = PartIndex(["c.part1.wav", "c.part1.mp3", "c.part2.wav"])
    with pytest.raises(MultiPartError, match=r"part 1 of call 'c' is claimed by 2 recordings \(c.part1.mp3, c"):
        twice.previous("c.part2.wav")
