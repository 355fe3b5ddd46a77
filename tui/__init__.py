"""traindoc terminal UI (Textual): presentation only, talks to the assistant through its client."""
