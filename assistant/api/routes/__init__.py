"""One thin router per resource: parse, call the service, answer. No logic lives here."""
