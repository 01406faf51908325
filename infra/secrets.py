"""Secrets generated at deploy time: the API keys NewStore sends, and the key material."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from infra.nag import acknowledge

_MANUAL_ROTATION = (
    "Rotation is manual and documented (README.md, Deploying): an API key must be changed in "
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
            # Losing it makes every stored card unfindable: never delete it with the stack.
            removal_policy=RemovalPolicy.RETAIN,
        )
        for secret in (self.api_keys, self.key_material):
            acknowledge(secret, "AwsSolutions-SMG4", _MANUAL_ROTATION)

    @property
    def read_api_key_command(self) -> str:
        return (
            f"aws secretsmanager get-secret-value --secret-id {self.api_keys.secret_arn} "
            "--query SecretString --output text"
        )
