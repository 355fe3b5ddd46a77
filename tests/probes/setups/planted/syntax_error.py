"""A planted syntax error on line 5."""

from probes import Setup

def setup() -> Setup
    return None
