"""Moved to `probes.curvature.report` (issue 13: curvature is one subpackage); this path keeps old imports
working. The module object IS the new one, so attributes (private ones too) and monkeypatching agree."""

import sys

from probes.curvature import report as _moved
from probes.curvature.report import *  # noqa: F403 (the public names, for type checkers)

sys.modules[__name__] = _moved
