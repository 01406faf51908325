"""The stack: composes one construct per concern; no lookups, no AWS or git calls at synth."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, CfnOutput, Environment, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.api import Api
from infra.async_failures import AsyncFailures
from infra.audit import AuditJob
from infra.backup import TableBackup
from infra.canary import Canary
from infra.config import StackConfig, config_from_context, context_keys
from infra.dashboard import Dashboard
from infra.domain import CustomDomain
from infra.environments import read_context
from infra.events import Events
from infra.functions import Functions
from infra.layer import SharedLayer
from infra.monitoring import Monitoring
from infra.operator_api import OperatorApi
from infra.secrets import Secrets
from infra.storage import Storage
from infra.waf import Waf
from infra.waf_logging import WafLogging


class GiftCardStack(Stack):
    """Deploys to whatever account/region the CLI credentials point at, unless the configuration
    pins them (the prod preset does)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Gift card provider for NewStore (webhooks, API Gateway, DynamoDB)",
            termination_protection=config.termination_protection,
            env=Environment(account=config.account, region=config.region)
            if config.account
            else None,
        )
        self.config = config
        self.storage = Storage(self, "Storage", table_name=config.table_name)
        self.secrets = Secrets(self, "Secrets")
        self.layer = SharedLayer(self, "SharedLayer", asset_dir=config.layer_asset_dir)
        self.functions = Functions(
            self,
            "Functions",
            config=config,
            storage=self.storage,
            secrets=self.secrets,
            layer=self.layer.layer,
        )
        self.expiry_failures = AsyncFailures(
            self, "ReservationExpiryFailures", function=self.functions.reservation_expiry
        )
        self.api = Api(self, "Api", config=config, functions=self.functions)
        self.waf = Waf(self, "Waf", config=config, stage=self.api.stage)
        # Optional extras, each off by default (docs/deploy.md, "Optional extras").
        self.domain = (
            CustomDomain(self, "Domain", config=config, api=self.api)
            if config.domain_name
            else None
        )
        api_url = self.domain.url if self.domain else self.api.url
        self.backup = (
            TableBackup(self, "Backup", config=config, storage=self.storage)
            if config.backup
            else None
        )
        self.waf_logging = (
            WafLogging(self, "WafLogging", config=config, waf=self.waf)
            if config.waf_logging
            else None
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            config=config,
            storage=self.storage,
            functions=self.functions,
            api=self.api,
            waf=self.waf,
        )
        self.events = Events(
            self,
            "Events",
            config=config,
            storage=self.storage,
            layer=self.layer.layer,
            monitoring=self.monitoring,
        )

        self.operator_api = OperatorApi(
            self,
            "OperatorApi",
            config=config,
            functions=self.functions,
            alarm_topic=self.monitoring.topic,
            depends_on=self.api.rest_api,
        )

        self.audit = AuditJob(
            self,
            "Audit",
            config=config,
            storage=self.storage,
            layer=self.layer.layer,
            alarm_topic=self.monitoring.topic,
        )
        # The operator routes that read kept audits or start the job (giftcard.grants.Access).
        for construct in self.functions.by_name.values():
            if construct.spec.access.reads_audits:
                self.audit.grant_read(construct.function)
            if construct.spec.access.starts_audit:
                self.audit.grant_run(construct.function)
        self.canary = (
            Canary(
                self,
                "Canary",
                config=config,
                api_url=api_url,
                secrets=self.secrets,
                monitoring=self.monitoring,
            )
            if config.canary
            else None
        )
        self.dashboard = (
            Dashboard(
                self,
                "Dashboard",
                config=config,
                api=self.api,
                functions=self.functions,
                waf=self.waf,
                monitoring=self.monitoring,
            )
            if config.dashboard
            else None
        )
        if self.dashboard is not None:
            self.dashboard.dashboard.add_widgets(*self.events.dashboard_widgets())

        CfnOutput(
            self,
            "ApiUrl",
            value=api_url,
            description="Base URL for NewStore's gift_card configuration",
        )
        if self.domain:
            CfnOutput(
                self,
                "ApiDomainTarget",
                value=self.domain.target,
                description="Point the custom domain's DNS here (CNAME or alias)",
            )
        if self.canary:
            CfnOutput(
                self,
                "CanaryCardSecretArn",
                value=self.canary.card.secret_arn,
                description='Put the canary card here: {"number": ..., "pin": ...}',
            )
        CfnOutput(self, "TableName", value=self.storage.table.table_name)
        CfnOutput(
            self,
            "ApiKeysSecretArn",
            value=self.secrets.api_keys.secret_arn,
            description="API keys NewStore sends; read with the GetApiKeyCommand output",
        )
        CfnOutput(
            self,
            "KeyMaterialSecretArn",
            value=self.secrets.key_material.secret_arn,
            description="Key material for card lookups, PINs and replays: never rotate blindly",
        )
        CfnOutput(
            self,
            "GetApiKeyCommand",
            value=self.secrets.read_api_key_command,
            description="Prints the API key secret ({id, key}); give NewStore the key value",
        )
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        CfnOutput(
            self,
            "OperatorApiUrl",
            value=self.operator_api.url,
            description="The back office (sign with SigV4): giftcard --stack reads it",
        )
        for policy, managed in self.operator_api.policies.items():
            CfnOutput(
                self,
                f"{policy.capitalize()}PolicyArn",
                value=managed.managed_policy_arn,
                description=f"Attach to the roles or permission sets of {policy} operators",
            )
        CfnOutput(
            self,
            "EventBusName",
            value=self.events.bus.event_bus_name,
            description="EventBridge bus with one event per ledger entry (source giftcard)",
        )
        CfnOutput(self, "AuditFunctionName", value=self.audit.function.function_name)


def build_app(
    context: dict[str, Any] | None = None, **app_kwargs: Any
) -> tuple[App, GiftCardStack]:
    """The app as ``cdk synth`` runs it; tests pass context (stub asset dirs) directly."""
    app = App(context=context, **app_kwargs) if context is not None else App(**app_kwargs)
    config = config_from_context(read_context(app.node.try_get_context, context_keys()))
    stack = GiftCardStack(app, config.stack_name, config=config)
    # The nag gate: an unacknowledged AwsSolutions finding fails `cdk synth` and the tests.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack
