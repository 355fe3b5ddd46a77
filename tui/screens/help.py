"""F1 / ?: how the conversation works and every key, in one place."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# traindoc — help

traindoc walks **Hung-yi Lee's flowchart** for a model that trains badly (ML 2021, "General
Guidance"): training loss first, then model bias vs optimization, then overfitting vs mismatch.
Every answer is kept in a session you can reopen later with `traindoc --resume`.

## Answering

- **y** / **n** / **u** — answer the current question: yes / no / not sure
- **w** — why am I asking? (the question's explanation and the lecture it comes from)
- **m** — measure it for me: run the probe on your setup, or read your training history
- **a** — diagnose automatically: run every probe the path needs
- **t** — try it: train the lecture's remedies for the diagnosis on your setup, then before/after
- **x** or **esc** — cancel the running probe
- **c** — change or withdraw an earlier answer (clicking an answer in the chat does the same)
- **z** — undo the last input
- **i** or **/** — type instead; **esc** leaves the text box

## Typing

Type what you see; I show what I understood and answer only when you confirm:

- `my train loss is 2.3 after 10 epochs, val 2.9` — numbers are compared with a reference, so add
  `10 classes` (ln 10 is the loss of guessing uniformly), `baseline 1.0` or `target 0.1`
- `train loss is large`, `test loss is fine`, `the deeper model trains worse`, `gradient norm 1e-5`
- `yes`, `no`, `not sure`, `why?`, `measure it`
- `3 classes` when your history left the training loss open: I read the history again with it

## The report and the app

- **e** — export the report: Markdown (plots as SVG images) and JSON
- **ctrl+n** — start a new session (the current one stays saved)
- **ctrl+p** — command palette: export, new session, theme, automatic diagnosis…
- **ctrl+t** — switch between the light and the dark theme
- **F1** or **?** — this help
- **q** or **ctrl+c** — quit; answers and finished measurements are saved, a running probe is cancelled

Press **esc** to close this help.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,f1,question_mark", "close", "Close help", id="close-help"),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-body"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
