"""The TUI's widgets: chat messages, the question bar, finding cards, the probe panel, plots."""
