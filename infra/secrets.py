"""Secrets generated at deploy time: the API keys NewStore sends, and the key material."""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.nag import acknowledge

_MANUAL_ROTATION = (
    "Rotation is manual and documented (docs/deploy.md): an API key must be changed in "
    "NewStore's gift_card configuration at the same time, and the key material keys every "
    "stored card lookup and PIN, so it cannot be rotated by a Lambda on a schedule."
)


class Secrets(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        # {"id": "key-1", "key": "<40 chars>"}; the service also reads {"keys": [...]} so two
        # keys can be active during a rotation.
        self.api_keys = secretsmanager.Secret(
            self,
            "ApiKeys",
            description="Gift card provider: API keys accepted from NewStore",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template='{"id":"key-1"}',
                generate_string_key="key",
                exclude_punctuation=True,
                password_length=40,
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        # The key material gets its own customer-managed key, so that who may decrypt it is
        # written in one key policy (and every use is a CloudTrail event on this key). CDK's
        # default key policy holds one statement for the account root: it lets the account's
        # IAM administrators manage the key and grant its use through IAM policies (without it a
        # key can become unmanageable); it is not a grant to the root user's sessions alone. No
        # IAM policy in this stack grants kms:Decrypt: the function roles that read the key
        # material are named in the key policy itself (allow_key_material_readers).
        self.key_material_key = kms.Key(
            self,
            "KeyMaterialKey",
            description="Gift card provider: encrypts the key material secret",
            enable_key_rotation=True,
            # The secret outlives the stack (below), so its key must too.
            removal_policy=RemovalPolicy.RETAIN,
        )
        # {"master": "<64 chars>"}: the functions derive the HMAC and AES-GCM keys with HKDF.
        self.key_material = secretsmanager.Secret(
            self,
            "KeyMaterial",
            description=(
                "Gift card provider: master key material "
                "(card lookups, PINs, replays, instrument ids)"
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}",
                generate_string_key="master",
                exclude_punctuation=True,
                password_length=64,
            ),
            encryption_key=self.key_material_key,
            # Losing it makes every stored card unfindable: never delete it with the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )
        for secret in (self.api_keys, self.key_material):
            acknowledge(secret, "AwsSolutions-SMG4", _MANUAL_ROTATION)

    def allow_key_material_readers(self, roles: Iterable[iam.IRole]) -> None:
        """Let exactly these roles decrypt the key material, and only through Secrets Manager."""
        self.key_material_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="KeyMaterialReaders",
                principals=[iam.ArnPrincipal(role.role_arn) for role in roles],
                actions=["kms:Decrypt"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={
                    "StringEquals": {"kms:ViaService": f"secretsmanager.{Aws.REGION}.amazonaws.com"}
                },
            )
        )

    @property
    def read_api_key_command(self) -> str:
        return (
            f"aws secretsmanager get-secret-value --secret-id {self.api_keys.secret_arn} "
            "--query SecretString --output text"
        )
