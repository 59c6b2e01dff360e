"""Two versions side by side: each document as 2-space JSON in its own key order (as
``flowctl store diff`` and the API's diff show them), lined up by ``difflib``, with a few
lines of context around each change and the unchanged runs between folded."""

from __future__ import annotations

import difflib
import json
from typing import NamedTuple

__all__ = ["Row", "side_by_side"]

CONTEXT = 3


class Row(NamedTuple):
    """One line of the table: ``kind`` is ``same``, ``changed``, ``removed``,
    ``added``, or ``fold`` (unchanged lines left out; ``old_text`` says how many)."""

    kind: str
    old_no: int | None
    old_text: str
    new_no: int | None
    new_text: str


def _lines(document: str) -> list[str]:
    return json.dumps(json.loads(document), indent=2, ensure_ascii=False).splitlines()


def side_by_side(old: str, new: str) -> list[Row]:
    """The rows showing stored documents ``old`` and ``new`` side by side; no rows when
    they are the same."""
    a, b = _lines(old), _lines(new)
    rows: list[Row] = []
    for group in difflib.SequenceMatcher(None, a, b, autojunk=False).get_grouped_opcodes(CONTEXT):
        if rows:
            rows.append(Row("fold", None, "…", None, "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                rows += [
                    Row("same", i + 1, a[i], j + 1, b[j])
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
                continue
            left, right = list(range(i1, i2)), list(range(j1, j2))
            for k in range(max(len(left), len(right))):
                i = left[k] if k < len(left) else None
                j = right[k] if k < len(right) else None
                kind = (
                    "changed"
                    if i is not None and j is not None
                    else "removed"
                    if i is not None
                    else "added"
                )
                rows.append(
                    Row(
                        kind,
                        None if i is None else i + 1,
                        "" if i is None else a[i],
                        None if j is None else j + 1,
                        "" if j is None else b[j],
                    )
                )
    return rows
