"""stop_sequences applied to a streamed answer: text is let through until a sequence appears, and only the
tail that could still be the start of one is held back.

The answer stops where a sequence is first complete, as generation would (of "abc" and "b" in "abc", "b"),
so the result is the same however the answer is cut into fragments.
"""
from __future__ import annotations


class StopSequenceCutter:
    def __init__(self, sequences: tuple[str, ...]) -> None:
        self.sequences = sequences
        self.matched: str | None = None
        self._held = ""

    def feed(self, text: str) -> str:
        """The part of `text` (after what was held) that is certainly answer; "" once a sequence matched."""
        if self.matched is not None:
            return ""
        if not self.sequences:
            return text
        buffer = self._held + text
        hits = [(buffer.find(seq) + len(seq), buffer.find(seq), seq) for seq in self.sequences if seq in buffer]
        if hits:
            _end, position, self.matched = min(hits)
            self._held = ""
            return buffer[:position]
        keep = self._partial_tail(buffer)
        self._held = buffer[len(buffer) - keep:] if keep else ""
        return buffer[:len(buffer) - keep]

    def finish(self) -> str:
        """What was held back at the end of the answer (it never became a stop sequence)."""
        held, self._held = self._held, ""
        return "" if self.matched is not None else held

    def _partial_tail(self, buffer: str) -> int:
        """The length of the longest end of `buffer` that begins some stop sequence."""
        longest = 0
        for seq in self.sequences:
            for size in range(min(len(seq) - 1, len(buffer)), longest, -1):
                if buffer.endswith(seq[:size]):
                    longest = size
                    break
        return longest
