"""A terminal plot of curves that redraws to fit its size (resize-safe)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.text import Text
from textual.widget import Widget

from tui.plotting import terminal_plot


class CurvePlot(Widget):
    """Curves in, dots out. Points can be added while a probe runs (`add_point`)."""

    DEFAULT_CSS = """
    CurvePlot { height: 12; width: 1fr; }
    """

    def __init__(
        self,
        curves: Mapping[str, Sequence[tuple[float, float]]] | None = None,
        *,
        title: str = "",
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.curves: dict[str, list[tuple[float, float]]] = {k: list(v) for k, v in (curves or {}).items()}
        self.title = title

    def add_point(self, series: str, x: float, y: float) -> None:
        self.curves.setdefault(series, []).append((x, y))
        self.refresh()

    def replace(self, curves: Mapping[str, Sequence[tuple[float, float]]], title: str | None = None) -> None:
        self.curves = {k: list(v) for k, v in curves.items()}
        if title is not None:
            self.title = title
        self.refresh()

    def clear(self) -> None:
        self.curves = {}
        self.refresh()

    def render(self) -> Text:
        size = self.content_size
        return terminal_plot(self.curves, max(10, size.width), max(3, size.height), title=self.title)
