"""An edit of the cell (lines replaced by new text, in cell line numbers) and applying edits to a source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..report import Finding


@dataclass(frozen=True)
class Edit:
    """Replace cell lines ``start_line``..``end_line`` (1-based, inclusive, as findings number them) by ``replacement``."""

    start_line: int
    end_line: int
    replacement: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``finding["edit"]``)."""
        return {"start_line": self.start_line, "end_line": self.end_line, "replacement": self.replacement}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Edit:
        """The Edit of a ``to_dict()``."""
        return cls(int(d["start_line"]), int(d["end_line"]), str(d["replacement"]))

    def overlaps(self, other: Edit) -> bool:
        """Whether the two edits touch a common line."""
        return not (self.end_line < other.start_line or other.end_line < self.start_line)


def apply_edits(source: str, edits: list[Edit], *, line_offset: int = 0) -> tuple[str, list[Edit]]:
    """``source`` with the edits applied (bottom first), and the edits applied.

    ``line_offset`` is the options' offset between cell lines and the source's
    lines (1 for a ``%%ae_check`` body). Identical edits count once; an edit
    overlapping one already taken is left out (it is not in the returned list).
    """
    lines = source.splitlines()
    taken: list[Edit] = []
    for e in edits:
        if e in taken or any(e.overlaps(t) for t in taken):
            continue
        if not 1 <= e.start_line - line_offset <= e.end_line - line_offset <= len(lines):
            continue
        taken.append(e)
    for e in sorted(taken, key=lambda e: -e.start_line):
        a, b = e.start_line - line_offset - 1, e.end_line - line_offset
        lines[a:b] = e.replacement.splitlines()
    return "\n".join(lines) + ("\n" if source.endswith("\n") else ""), taken


def finding_edit(finding: Finding) -> Edit | None:
    """The Edit a finding carries, or None."""
    return Edit.from_dict(finding.edit) if getattr(finding, "edit", None) else None
