"""Moved to `probes.curvature.spectrum` (issue 13: curvature is one subpackage); this path keeps old imports
working. The module object IS the new one, so attributes (private ones too) and monkeypatching agree."""

import sys

from probes.curvature import spectrum as _moved
from probes.curvature.spectrum import *  # noqa: F403 (the public names, for type checkers)

sys.modules[__name__] = _moved
