"""The tables of an HTML report as plain data, for tests that check a report's numbers cell by cell."""

from __future__ import annotations

from html.parser import HTMLParser


class TableReader(HTMLParser):
    """Tables as {caption, rows}, each row a list of cell texts (header and body rows alike)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict] = []
        self._cell: list[str] | None = None
        self._in_caption = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append({"caption": "", "rows": []})
        elif tag == "caption":
            self._in_caption = True
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "caption":
            self._in_caption = False
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._in_caption:
            self.tables[-1]["caption"] += data
        elif self._cell is not None:
            self._cell.append(data)


def html_tables(text: str) -> list[dict]:
    """Every table of ``text`` in page order: ``{"caption": str, "rows": [[cell text, …], …]}``."""
    reader = TableReader()
    reader.feed(text)
    return reader.tables
