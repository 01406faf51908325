"""Optional custom domain (``domain_name``): a regional API Gateway domain with an ACM
certificate and the TLS 1.2 security policy, the stage mapped under its own name (so the URL
keeps its shape: ``https://<domain>/<stage>/gift_card/...``). With it, the default execute-api
endpoint is disabled (infra/api.py), so every request passes this domain's TLS policy."""

from __future__ import annotations

from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from constructs import Construct

from infra.api import Api
from infra.config import StackConfig


class CustomDomain(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StackConfig, api: Api):
        super().__init__(scope, construct_id)
        zone = (
            route53.HostedZone.from_hosted_zone_attributes(
                self,
                "Zone",
                hosted_zone_id=config.hosted_zone_id,
                zone_name=config.hosted_zone_name,
            )
            if config.hosted_zone_id
            else None
        )
        certificate: acm.ICertificate
        if config.certificate_arn:
            certificate = acm.Certificate.from_certificate_arn(
                self, "Certificate", config.certificate_arn
            )
        else:
            # Without a zone, the deploy waits until the validation record shown in the ACM
            # console is added to the domain's DNS by hand.
            certificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=config.domain_name,
                validation=acm.CertificateValidation.from_dns(zone),
            )
        self.domain = apigw.DomainName(
            self,
            "Domain",
            domain_name=config.domain_name,
            certificate=certificate,
            endpoint_type=apigw.EndpointType.REGIONAL,
            security_policy=apigw.SecurityPolicy.TLS_1_2,
        )
        self.domain.add_base_path_mapping(
            api.rest_api, base_path=config.stage_name, stage=api.stage
        )
        if zone is not None:
            route53.ARecord(
                self,
                "Alias",
                zone=zone,
                record_name=config.domain_name,
                target=route53.RecordTarget.from_alias(
                    route53_targets.ApiGatewayDomain(self.domain)
                ),
            )
        self.url = f"https://{config.domain_name}/{config.stage_name}/"

    @property
    def target(self) -> str:
        """The regional name to point the domain's DNS at (CNAME or alias)."""
        return self.domain.domain_name_alias_domain_name
