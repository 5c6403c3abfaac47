from __future__ import annotations

from assay.engines.stops import StopBuffer


def feed(stops: tuple[str, ...], pieces: list[str]) -> tuple[str, bool]:
    buffer = StopBuffer(stops)
    out = []
    for piece in pieces:
        text, stopped = buffer.push(piece)
        out.append(text)
        if stopped:
            return "".join(out), True
    out.append(buffer.flush())
    return "".join(out), False


def test_no_stops_passes_text_through() -> None:
    assert feed((), ["a", "b"]) == ("ab", False)


def test_stop_inside_one_piece() -> None:
    assert feed(("END",), ["helloEND more"]) == ("hello", True)


def test_stop_split_across_pieces_is_never_emitted() -> None:
    buffer = StopBuffer(("<|end|>",))
    assert buffer.push("hi <|e") == ("hi ", False)
    assert buffer.push("nd|> tail") == ("", True)


def test_held_text_that_is_not_a_stop_is_released() -> None:
    buffer = StopBuffer(("STOP",))
    assert buffer.push("ST") == ("", False)
    assert buffer.push("ART") == ("START", False)


def test_earliest_of_several_stops_wins() -> None:
    assert feed(("b", "a"), ["xxab"]) == ("xx", True)


def test_held_tail_flushes_at_the_end() -> None:
    assert feed(("STOP",), ["abc ST"]) == ("abc ST", False)
