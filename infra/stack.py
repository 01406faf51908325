"""The stack: composes one construct per concern; no lookups, no AWS or git calls at synth."""

from __future__ import annotations

from typing import Any

from aws_cdk import App, CfnOutput, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from infra.api import Api
from infra.audit import AuditJob
from infra.config import StackConfig, config_from_context, context_keys
from infra.events import Events
from infra.functions import Functions
from infra.layer import SharedLayer
from infra.monitoring import Monitoring
from infra.operator_api import OperatorApi
from infra.secrets import Secrets
from infra.storage import Storage
from infra.waf import Waf


class GiftCardStack(Stack):
    """Environment-agnostic: deploys to whatever account/region the CLI credentials point at."""

    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Gift card provider for NewStore (webhooks, API Gateway, DynamoDB)",
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
        self.api = Api(self, "Api", config=config, functions=self.functions)
        self.waf = Waf(self, "Waf", config=config, stage=self.api.stage)
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

        CfnOutput(
            self,
            "ApiUrl",
            value=self.api.url,
            description="Base URL for NewStore's gift_card configuration",
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
    config = config_from_context({key: app.node.try_get_context(key) for key in context_keys()})
    stack = GiftCardStack(app, config.stack_name, config=config)
    # The nag gate: an unacknowledged AwsSolutions finding fails `cdk synth` and the tests.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack
