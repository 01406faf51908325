"""Per-environment presets: ``cdk.json`` ``context.environments.<name>``, chosen with
``-c env=<name>`` (``make synth|deploy ENV=<name>``).

A preset is a set of context values; a value given explicitly (``-c key=value``, ``CDK_ARGS``,
or a top-level ``cdk.json`` context key) wins over the preset, and the preset wins over the
defaults in ``infra/config.py``. A preset may only name keys the stack reads, so a typo fails
the synth instead of being ignored. docs/deploy.md ("Environments") describes the two presets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

#: Context key naming the preset, and the key holding the presets.
ENV_KEY = "env"
PRESETS_KEY = "environments"


def apply_preset(
    explicit: Mapping[str, Any],
    env: Any,
    presets: Any,
    known_keys: Iterable[str],
) -> dict[str, Any]:
    """The context the stack reads: the preset ``env`` under the explicitly given values."""
    given = {key: value for key, value in explicit.items() if value is not None}
    if env in (None, ""):
        return given
    if not isinstance(presets, Mapping) or str(env) not in presets:
        names = sorted(presets) if isinstance(presets, Mapping) else []
        raise ValueError(f"env={env!r}: no such preset in cdk.json context.environments {names}")
    preset = presets[str(env)]
    unknown = set(preset) - set(known_keys)
    if unknown:
        raise ValueError(f"environments.{env}: unknown context keys {sorted(unknown)}")
    return {**preset, **given, "environment": str(env)}


def read_context(try_get: Callable[[str], Any], known_keys: Iterable[str]) -> dict[str, Any]:
    """Every known key from the app's context, with the chosen preset applied."""
    keys = list(known_keys)
    return apply_preset(
        {key: try_get(key) for key in keys}, try_get(ENV_KEY), try_get(PRESETS_KEY), keys
    )
