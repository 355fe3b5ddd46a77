"""The TUI's screens: the chat, and the modal dialogs it opens."""
