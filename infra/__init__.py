"""AWS CDK deployment of the gift card provider: a thin stack composing one construct per concern.

The layer's code (``shared/giftcard``) is the one source of the table schema and the settings
names, so the stack imports it instead of repeating them.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: Repository root: relative context paths (functions_dir, layer_asset_dir) resolve against it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = PROJECT_ROOT / "shared"

if str(SHARED_DIR) not in sys.path:
    sys.path.insert(0, str(SHARED_DIR))
