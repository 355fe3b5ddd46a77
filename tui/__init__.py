"""traindoc's terminal UI (Textual). Presentation only: it talks to the assistant through
`assistant.client.TraindocClient` and never imports torch, the rule engine or session internals."""

from tui.app import TraindocApp

__all__ = ["TraindocApp"]

# marks this folder as traindoc's own package (checked at start-up: traindoc/_packages.py)
__traindoc__ = True
