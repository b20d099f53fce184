"""Tables of the model page: markup from plain values, and the test split's quality by segment."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape
from itertools import repeat
from typing import Any

from ...segments import NOT_EVALUATED, quality_rows


def table(
    header: Iterable[str],
    rows: Iterable[Iterable[str]],
    table_id: str = "",
    text_columns: int = 1,
    row_attributes: Iterable[str] | None = None,
) -> str:
    """`rows` hold markup (escape values before); the first `text_columns` columns align left."""

    def cells(tag: str, row: Iterable[str]) -> str:
        return "".join(
            f"<{tag}{' class=text' if i < text_columns else ''}>{cell}</{tag}>" for i, cell in enumerate(row)
        )

    ident = f' id="{escape(table_id)}"' if table_id else ""
    attributes = row_attributes or repeat("")
    body = "".join(f"<tr{attrs}>{cells('td', row)}</tr>" for row, attrs in zip(rows, attributes, strict=False))
    return f"<table{ident}><thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"


def segments_table(segments: dict[str, Any], table_id: str = "segments") -> str:
    """A version's stored quality per segment (`segments.quality_rows`)."""
    if not segments:
        return '<p class="missing">No quality by segment: trained before segments were measured.</p>'
    header, rows = quality_rows(segments)
    return table(header, ([_cell(c) for c in row] for row in rows), table_id)


def _cell(text: str) -> str:
    return f'<span class="missing">{text}</span>' if text == NOT_EVALUATED else escape(text)
