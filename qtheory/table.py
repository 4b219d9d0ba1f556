"""A small pandas-free table that prints as text and renders as HTML in Jupyter."""

from __future__ import annotations

import html
import json
import math


def _fmt(v) -> str:
    if isinstance(v, float):
        if math.isinf(v) or math.isnan(v):
            return str(v)
        return f"{v:.6g}"
    return str(v)


class Table:
    """Rows of values under named columns.

    ``rows`` is a list of tuples; ``table[col]`` gives a column as a list, ``table.to_dict()``
    a list of dicts, ``table.to_json()`` JSON text.
    """

    def __init__(self, columns, rows, title: str | None = None):
        self.columns = list(columns)
        self.rows = [tuple(r) for r in rows]
        self.title = title

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            i = self.columns.index(key)
            return [r[i] for r in self.rows]
        return self.rows[key]

    def to_dict(self) -> list[dict]:
        return [dict(zip(self.columns, r, strict=False)) for r in self.rows]

    def to_json(self) -> str:
        def conv(v):
            if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", None) == 0:
                v = v.item()  # numpy scalars as Python numbers
            return None if isinstance(v, float) and math.isnan(v) else (
                str(v) if isinstance(v, float) and math.isinf(v) else v)
        return json.dumps({"title": self.title, "rows": [
            {k: conv(v) for k, v in d.items()} for d in self.to_dict()]}, indent=2)

    def __str__(self):
        cells = [self.columns] + [[_fmt(v) for v in r] for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(len(self.columns))]
        lines = []
        if self.title:
            lines.append(self.title)
        for k, c in enumerate(cells):
            lines.append("  ".join(s.rjust(w) if k else s.ljust(w) for s, w in zip(c, widths, strict=False)))
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in r) + "</tr>"
            for r in self.rows)
        cap = f"<caption>{html.escape(self.title)}</caption>" if self.title else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
