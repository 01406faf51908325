"""AWS WAF v2 in front of the stage: body size, per-IP rate, optional NewStore IP allow-list."""

from __future__ import annotations

from typing import Any

from aws_cdk import Fn
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from infra.api import error_body
from infra.config import StackConfig

#: WAF's body inspection levels for API Gateway (bytes -> setting); the smallest one that covers
#: the limit is chosen, since larger levels cost more.
_INSPECTION_LIMITS = ((16 * 1024, "KB_16"), (32 * 1024, "KB_32"), (48 * 1024, "KB_48"),
                      (64 * 1024, "KB_64"))  # fmt: skip

BODY_TOO_LARGE = "payload_too_large"
RATE_LIMITED = "rate_limit"
FORBIDDEN = "forbidden"


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _block(status: int, body_key: str) -> wafv2.CfnWebACL.RuleActionProperty:
    return wafv2.CfnWebACL.RuleActionProperty(
        block=wafv2.CfnWebACL.BlockActionProperty(
            custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                response_code=status, custom_response_body_key=body_key
            )
        )
    )


class Waf(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, stage: apigw.Stage
    ) -> None:
        super().__init__(scope, construct_id)
        inspection_limit = next(
            level for size, level in _INSPECTION_LIMITS if size >= config.max_body_bytes
        )
        rules: list[Any] = []

        if config.newstore_ip_allowlist:
            allowed: list[Any] = []
            for version, addresses in (
                ("IPV4", config.ipv4_allowlist),
                ("IPV6", config.ipv6_allowlist),
            ):
                if not addresses:
                    continue
                ip_set = wafv2.CfnIPSet(
                    self,
                    f"NewStore{version.capitalize()}",
                    scope="REGIONAL",
                    ip_address_version=version,
                    addresses=addresses,
                    description=f"NewStore egress addresses, {version}",
                )
                allowed.append(
                    wafv2.CfnWebACL.StatementProperty(
                        ip_set_reference_statement=wafv2.CfnWebACL.IPSetReferenceStatementProperty(
                            arn=ip_set.attr_arn
                        )
                    )
                )
            from_newstore = (
                allowed[0]
                if len(allowed) == 1
                else wafv2.CfnWebACL.StatementProperty(
                    or_statement=wafv2.CfnWebACL.OrStatementProperty(statements=allowed)
                )
            )
            rules.append(
                wafv2.CfnWebACL.RuleProperty(
                    name="BlockNotFromNewStore",
                    priority=0,
                    action=_block(403, FORBIDDEN),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        not_statement=wafv2.CfnWebACL.NotStatementProperty(statement=from_newstore)
                    ),
                    visibility_config=_visibility("BlockNotFromNewStore"),
                )
            )

        rules.append(
            wafv2.CfnWebACL.RuleProperty(
                name="RateLimitPerIp",
                priority=1,
                action=_block(429, RATE_LIMITED),
                statement=wafv2.CfnWebACL.StatementProperty(
                    rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                        aggregate_key_type="IP",
                        limit=config.waf_rate_limit,
                        evaluation_window_sec=300,
                    )
                ),
                visibility_config=_visibility("RateLimitPerIp"),
            )
        )
        # API Gateway REST APIs take bodies up to 10 MB and have no smaller limit of their own.
        # A body beyond the inspection limit counts as a match (oversize_handling MATCH).
        rules.append(
            wafv2.CfnWebACL.RuleProperty(
                name="BodyTooLarge",
                priority=2,
                action=_block(413, BODY_TOO_LARGE),
                statement=wafv2.CfnWebACL.StatementProperty(
                    size_constraint_statement=wafv2.CfnWebACL.SizeConstraintStatementProperty(
                        comparison_operator="GT",
                        size=config.max_body_bytes,
                        field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(
                            body=wafv2.CfnWebACL.BodyProperty(oversize_handling="MATCH")
                        ),
                        text_transformations=[
                            wafv2.CfnWebACL.TextTransformationProperty(priority=0, type="NONE")
                        ],
                    )
                ),
                visibility_config=_visibility("BodyTooLarge"),
            )
        )
        rules.append(_managed("AWSManagedRulesKnownBadInputsRuleSet", priority=3))
        if config.waf_common_rules:
            rules.append(
                _managed(
                    "AWSManagedRulesCommonRuleSet",
                    priority=4,
                    # SizeRestrictions_BODY blocks bodies over 8 KB, below the contract's limit
                    # (BodyTooLarge enforces ours); a webhook client may send no User-Agent.
                    count_only=("SizeRestrictions_BODY", "NoUserAgent_HEADER"),
                )
            )

        json_body = "APPLICATION_JSON"
        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            scope="REGIONAL",
            description="Gift card provider API",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=_visibility("GiftCardApi"),
            rules=rules,
            custom_response_bodies={
                BODY_TOO_LARGE: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type=json_body,
                    content=error_body(BODY_TOO_LARGE, "Request body too large."),
                ),
                RATE_LIMITED: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type=json_body,
                    content=error_body(RATE_LIMITED, "Too many requests; retry later."),
                ),
                FORBIDDEN: wafv2.CfnWebACL.CustomResponseBodyProperty(
                    content_type=json_body, content=error_body(FORBIDDEN, "Request blocked.")
                ),
            },
            association_config=wafv2.CfnWebACL.AssociationConfigProperty(
                request_body={
                    "API_GATEWAY": wafv2.CfnWebACL.RequestBodyAssociatedResourceTypeConfigProperty(
                        default_size_inspection_limit=inspection_limit
                    )
                }
            ),
        )
        self.association = wafv2.CfnWebACLAssociation(
            self, "Association", resource_arn=stage.stage_arn, web_acl_arn=self.web_acl.attr_arn
        )

    @property
    def web_acl_name(self) -> str:
        """The generated name (``Ref`` of a web ACL is ``name|id|scope``)."""
        return Fn.select(0, Fn.split("|", self.web_acl.ref))


def _managed(
    name: str, *, priority: int, count_only: tuple[str, ...] = ()
) -> wafv2.CfnWebACL.RuleProperty:
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS",
                name=name,
                rule_action_overrides=[
                    wafv2.CfnWebACL.RuleActionOverrideProperty(
                        name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
                    )
                    for rule in count_only
                ]
                or None,
            )
        ),
        visibility_config=_visibility(name),
    )
