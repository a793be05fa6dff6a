"""Busy spans of speech, so the planner can find quiet room quickly."""

from __future__ import annotations

import bisect

from voiceguide.compiler.options import MIN_GAP


class _Timeline:
    """Busy spans of speech, kept sorted, so free slots can be found quickly."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.texts: list[str] = []

    def add(self, start: float, end: float, text: str = "") -> None:
        i = bisect.bisect(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)
        self.texts.insert(i, text)

    def is_free(self, start: float, end: float, gap: float = MIN_GAP) -> bool:
        i = bisect.bisect(self.starts, end + gap)
        for j in range(i - 1, -1, -1):
            if self.ends[j] + gap <= start:
                # spans are disjoint, so once one ends early enough all before it do
                return True
            if self.starts[j] < end + gap:
                return False
        return True

    def find(
        self, earliest: float, latest_end: float, length: float, gap: float = MIN_GAP
    ) -> float | None:
        """The first start >= earliest where ``length`` of speech fits before latest_end."""
        t = earliest
        while t + length <= latest_end:
            if self.is_free(t, t + length, gap):
                return t
            # spans are disjoint and sorted, so the last one starting before our
            # end is the one that ends latest: jump past it
            i = bisect.bisect(self.starts, t + length + gap)
            t = self.ends[i - 1] + gap
        return None
