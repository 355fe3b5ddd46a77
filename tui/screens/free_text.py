"""Free text in the chat: understood by `tui.answer_parsing`, confirmed in a dialog, then answered.

A mixin of `ChatScreen` (it uses the screen's state: the report, the known numbers, `aside`, `show`).
"""

from __future__ import annotations

from textual import work
from textual.message import Message
from textual.widgets import Input

from assistant.errors import TraindocError
from assistant.models import Report
from tui.answer_parsing import Claim, display_value, understand
from tui.conversation import ClaimsResult
from tui.screens.chat_host import ChatMixinBase
from tui.screens.confirm import ConfirmScreen
from tui.transcript import history_needs, question_text


class FreeText(ChatMixinBase):
    class ClaimsSent(Message):
        def __init__(self, result: ClaimsResult) -> None:
            super().__init__()
            self.result = result

    # A plain handler, not @on: Textual collects @on handlers only from its own classes, not mixins.
    async def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "freetext":
            return
        event.stop()
        text = event.value.strip()
        event.input.clear()
        # focus follows the conversation: back to the answer bar, where y / n / q work again
        self._focus_default_after_input()
        if not text or self.report is None:
            return
        current = self.current
        understood = understand(text, current.id if current else None, self.known)
        await self.aside(text.replace("\n", " "), role="user")
        if understood.intent == "why":
            await self.action_why()
            return
        if understood.intent == "measure":
            self.action_measure()
            return
        if understood.intent == "help":
            # the app is typed App[Any]; TraindocApp defines action_help (tui.app imports this screen)
            self.app.action_help()  # type: ignore[attr-defined]
            return
        self.known = self.known.merged(understood.measurements)
        facts = understood.measurements
        if (
            current is not None
            and self.conversation.sources.history
            and (facts.classes or facts.baseline)
            and history_needs(self.report, current.id)
            and not any(c.question == current.id for c in understood.claims)
        ):  # the fact the history was missing: read it again with it (the measurement, not a guess)
            told = f"{facts.classes} classes" if facts.classes else f"baseline {facts.baseline:g}"
            self.call(
                lambda: self.conversation.apply_history(classes=facts.classes, baseline=facts.baseline),
                f"Read your training history again with {told}.",
            )
            return
        if not understood.claims:
            if understood.measurements.is_empty():
                await self.aside(
                    "I didn't find an answer or a number in that. Try _yes_, _no_, _not sure_, "
                    "_train loss 2.3 with 10 classes_, _test loss is fine_, or press **F1**."
                )
            else:
                await self.aside(
                    "Noted: "
                    + ", ".join(understood.measurements.describe())
                    + ".\n\n"
                    + "\n".join(f"- {m}" for m in understood.missing)
                )
            return
        texts = {c.question: question_text(c.question, self.report) for c in understood.claims}
        report = self.report

        def confirmed(ok: bool | None) -> None:
            if not ok:
                self.notify("Nothing answered.")
                return
            if self.busy:
                self.notify("Still working on the last request…", severity="warning")
                return
            self.busy = True
            self.send_claims(report, understood.claims, text)

        self.app.push_screen(ConfirmScreen(understood.summary(texts)), confirmed)

    @work(thread=True, group="session", exit_on_error=False)
    def send_claims(self, report: Report, claims: tuple[Claim, ...], note: str) -> None:
        try:
            result = self.conversation.send_claims(report, claims, note)
        except TraindocError as exc:
            self.post_message(self.Failed(exc.message))
            return
        except Exception as exc:
            self.post_message(self.Failed(f"internal error: {type(exc).__name__}: {exc}"))
            return
        self.post_message(self.ClaimsSent(result))

    async def on_free_text_claims_sent(self, message: ClaimsSent) -> None:
        result = message.result
        for claim in result.remembered:
            self.remembered[claim.question] = claim
        for error in result.errors:
            self.notify(error, severity="error", timeout=8)
        try:
            await self.show(result.session)
        finally:
            self.busy = False
        if result.sent:
            self.notify(
                "Answered: "
                + "; ".join(f"{question_text(c.question)} {display_value(c.value)}" for c in result.sent)
            )
        if result.remembered:
            self.notify(
                "I'll remember "
                + "; ".join(f"“{question_text(c.question)}”" for c in result.remembered)
                + " for when we get there."
            )
