"""Optional AWS Backup plan for the table (``backup``): daily backups in a vault of their own,
kept ``backup_retention_days``.

Point-in-time recovery (always on) restores any second of the last 35 days; these backups add
copies that outlive that window and the table itself (the vault is retained with the stack).
Restoring: docs/deploy.md, "Restoring the table".
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_backup as backup
from aws_cdk import aws_events as events
from constructs import Construct

from infra.config import StackConfig
from infra.nag import acknowledge
from infra.storage import Storage


class TableBackup(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, config: StackConfig, storage: Storage
    ) -> None:
        super().__init__(scope, construct_id)
        self.vault = backup.BackupVault(self, "Vault", removal_policy=RemovalPolicy.RETAIN)
        self.plan = backup.BackupPlan(
            self,
            "Plan",
            backup_vault=self.vault,
            backup_plan_rules=[
                backup.BackupPlanRule(
                    rule_name="Daily",
                    schedule_expression=events.Schedule.cron(hour="3", minute="0"),
                    delete_after=Duration.days(config.backup_retention_days),
                )
            ],
        )
        selection = self.plan.add_selection(
            "Table", resources=[backup.BackupResource.from_dynamo_db_table(storage.table)]
        )
        acknowledge(
            selection,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSBackupServiceRolePolicyForBackup]",
            "AWS Backup's service role needs the AWS managed AWSBackupServiceRolePolicyForBackup "
            "policy, the documented way to let it back up the table.",
        )
