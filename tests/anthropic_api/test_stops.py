"""stop_sequences on a streamed answer: however the text is cut into fragments, the output is the text up
to the first sequence, and only a possible start of a sequence is ever held back."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from anthropic_api.stops import StopSequenceCutter


def _run(sequences: tuple[str, ...], fragments: list[str]) -> tuple[str, str | None]:
    cutter = StopSequenceCutter(sequences)
    out = "".join(cutter.feed(fragment) for fragment in fragments) + cutter.finish()
    return out, cutter.matched


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in zip(points, points[1:], strict=False)]


def test_the_first_sequence_in_the_text_wins_wherever_the_fragments_break():
    assert _run(("END", "stop"), ["Say it and st", "op, then END"]) == ("Say it and ", "stop")
    assert _run(("##",), ["a#", "b#", "#c"]) == ("a#b", "##")


def test_a_held_partial_match_is_released_when_it_comes_to_nothing():
    cutter = StopSequenceCutter(("STOP",))
    assert cutter.feed("ST") == "" and cutter.feed("ay") == "STay"
    assert cutter.feed("x ST") == "x " and cutter.finish() == "ST" and cutter.matched is None


def test_without_sequences_text_passes_untouched():
    assert _run((), ["a", "b"]) == ("ab", None)


@given(text=st.text(alphabet="abS TOP", max_size=60), cuts=st.lists(st.integers(0, 60), max_size=8),
       sequences=st.lists(st.text(alphabet="abS TOP", min_size=1, max_size=4), min_size=1, max_size=3))
def test_any_chunking_gives_the_same_answer_as_the_whole_text(text, cuts, sequences):
    sequences = tuple(sequences)
    hits = sorted((text.find(s) + len(s), text.find(s), s) for s in sequences if s in text)
    expected = (text[:hits[0][1]], hits[0][2]) if hits else (text, None)
    assert _run(sequences, _split(text, cuts)) == expected


def test_the_sequence_complete_first_wins_as_in_generation():
    assert _run(("abc", "b"), ["ab", "c"]) == ("a", "b") == _run(("abc", "b"), ["abc"])
