"""cdk-nag v3 acknowledgments: each names its rule and carries its reason at the call site."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(construct: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge one finding (``RuleId`` or ``RuleId[finding]``) on a construct and below."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule_id, reason=reason))
