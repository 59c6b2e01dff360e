"""The spoken field of a structured answer, read while the answer streams in."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from flowctl.engine.spoken import SpokenField


def feed_all(field: str, chunks: list[str]) -> tuple[list[str], SpokenField]:
    reader = SpokenField(field)
    return [reader.feed(c) for c in chunks], reader


def test_text_comes_out_as_its_characters_arrive() -> None:
    out, reader = feed_all(
        "system_response",
        ['{"score": 7, "system_res', 'ponse" : "Hel', "lo th", 'ere", "mood": "ok"}'],
    )
    assert out == ["", "Hel", "lo th", "ere"]
    assert reader.done and reader.text == "Hello there"


def test_escapes_cut_between_chunks_are_decoded() -> None:
    out, reader = feed_all("say", ['{"say": "a\\', "nb \\u00", "e9 \\ud83d", '\\ude00 \\"q\\""}'])
    assert "".join(out) == 'a\nb é 😀 "q"'
    assert reader.done


def test_a_lone_surrogate_becomes_the_replacement_character() -> None:
    _, reader = feed_all("say", ['{"say": "x\\udc00y\\ud800z\\ud800\\u0041"}'])
    assert reader.text == "x\ufffdy\ufffdz\ufffdA"


def test_other_fields_with_the_name_in_their_value_do_not_confuse_it() -> None:
    _, reader = feed_all("say", ['{"note": "say", "say": "real"}'])
    assert reader.text == "real"


def test_nothing_after_the_closing_quote() -> None:
    reader = SpokenField("say")
    assert reader.feed('{"say": "done"') == "done"
    assert reader.feed(', "say": "again"}') == ""


@given(st.text(max_size=60), st.integers(min_value=1, max_value=7))
def test_any_text_in_any_chunking_comes_back_whole(text: str, size: int) -> None:
    answer = json.dumps({"score": 1, "system_response": text, "z": [1]})
    chunks = [answer[i : i + size] for i in range(0, len(answer), size)]
    out, reader = feed_all("system_response", chunks)
    assert "".join(out) == text
    assert reader.done
