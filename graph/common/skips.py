"""Counted skips: the report of anything that passes over bad input, never a silent drop."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SkipLog:
    """Skipped items counted per reason with a few examples each; `notes` count oddities that were kept."""

    skipped: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    notes: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, where: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < 3:
            ex.append(where)

    def note(self, reason: str, where: str) -> None:
        """Count an oddity of an item that was kept (e.g. a decoder warning), with examples like skips."""
        self.notes[reason] = self.notes.get(reason, 0) + 1
        ex = self.examples.setdefault(reason, [])
        if len(ex) < 3:
            ex.append(where)

    def skip_lines(self, sep: str = ", ") -> list[str]:
        return [f"skipped {n} ({reason}), e.g. {sep.join(self.examples.get(reason, []))}"
                for reason, n in sorted(self.skipped.items())] + \
               [f"noted {n} ({reason}), e.g. {sep.join(self.examples.get(reason, []))}"
                for reason, n in sorted(self.notes.items())]
