"""Moved to `probes.curvature.measure` (issue 13: curvature is one subpackage); this path keeps old imports
working. The module object IS the new one, so attributes (private ones too) and monkeypatching agree."""

import sys

from probes.curvature import measure as _moved
from probes.curvature.measure import *  # noqa: F403 (the public names, for type checkers)

sys.modules[__name__] = _moved
