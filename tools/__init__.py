"""Developer and operator commands (``python -m tools.<name>``).

The service's code lives in ``shared/`` (the Lambda layer's ``giftcard`` package); put it on the
path so every command runs from a plain checkout, like the functions do in the layer.
"""

import sys
from pathlib import Path

_SHARED = str(Path(__file__).resolve().parent.parent / "shared")
if _SHARED not in sys.path:
    sys.path.insert(0, _SHARED)
