"""One check for numeric settings: each field states its own range once, and a bad value gets one clear message.

At the bottom of engine/ (it imports only the project's error type), so the LINE config, the LSTM estimator and
anything above them share it. A bool is never a number here (True would pass as 1), and NaN or ±inf never passes.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from graph.common.errors import Img2SongError


@dataclass(frozen=True)
class NumberRange:
    """The values a numeric setting may take: whole or real, bounds (inclusive unless *_open), None allowed or not."""

    whole: bool = False
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    optional: bool = False
    why: str = ""  # said after the message, e.g. what the rejected value would have done

    def admits(self, value: Any) -> bool:
        """Whether `value` is in this range (None only where optional)."""
        if value is None:
            return self.optional
        kind = numbers.Integral if self.whole else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        """The range in words: 'an integer >= 1', 'a number > 0', 'an integer in 0..1000 or None'."""
        text = "an integer" if self.whole else "a number"
        if self.low is not None and self.high is not None and not self.low_open:
            text += f" in {_num(self.low)}..{_num(self.high)}"
        else:
            if self.low is not None:
                text += f" {'>' if self.low_open else '>='} {_num(self.low)}"
            if self.high is not None:
                text += f"{' and' if self.low is not None else ''} <= {_num(self.high)}"
        return text + (" or None" if self.optional else "")

    def check(self, name: str, value: Any, where: str = "") -> None:
        """Raise Img2SongError naming `where`, the field and the value unless the value is in range."""
        if not self.admits(value):
            raise Img2SongError(f"{where}{name} must be {self.describe()}, got {value!r}"
                                + (f" ({self.why})" if self.why else ""))


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


def check_numbers(ranges: dict[str, NumberRange], values: Any, where: str = "") -> None:
    """Check each field of `ranges` on the object `values` (its attribute of that name), in the table's order."""
    for name, rng in ranges.items():
        rng.check(name, getattr(values, name), where)
