"""A setup file whose import fails (a module that does not exist)."""

import torch_extension_that_does_not_exist  # noqa: F401


def setup() -> None:
    return None
