"""Errors raised at the boundary: every problem with a case, located and collected."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a case.

    Attributes:
        source: file (and sheet) name, or the case path for case-level problems.
        row: row as a spreadsheet user counts it (header = 1), or None.
        column: column name, or None.
        message: what is wrong, in the user's terms.
    """

    source: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = self.source
        if self.row is not None:
            where += f", row {self.row}"
        if self.column is not None:
            where += f", column {self.column!r}"
        return f"{where}: {self.message}"


class CaseError(ValueError):
    """A case failed validation. ``problems`` lists everything found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems), key=_sort_key)
        super().__init__(self.describe())

    def describe(self, limit: int = 50) -> str:
        """All problems, one per line (at most ``limit``, then a count)."""
        n = len(self.problems)
        head = f"the case has {n} problem{'s' if n != 1 else ''}:"
        lines = [f"  - {p}" for p in self.problems[:limit]]
        if n > limit:
            lines.append(f"  ... and {n - limit} more")
        return "\n".join([head, *lines])


class CaseInfeasibleError(ValueError):
    """The case cannot be satisfied, for reasons visible before solving.

    ``reasons`` are sentences in business terms (which commitment, which program, why).
    """

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("the case is infeasible:\n" + "\n".join(f"  - {r}" for r in reasons))


def _sort_key(p: Problem) -> tuple[str, int, str, str]:
    return (p.source, p.row if p.row is not None else -1, p.column or "", p.message)


class OutputError(ValueError):
    """An output path capacity must not or cannot write (a user's folder, the case being
    solved, a file, a read-only place), or a write that failed and left what was there."""
