"""The local operator API's SigV4 check (``tools/local_api/sigv4.py``) against real signatures made
by botocore: what verifies, what is refused (``403 forbidden``) and why."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from giftcard import errors
from tools.local_api import sigv4
from tools.local_api.sigv4 import (
    LOCAL_OPERATOR_ARN,
    OperatorCredential,
    SignatureRejected,
    SigV4Verifier,
    verify_request,
)

KEY_ID = "AKIAEXAMPLELOCAL0001"
SECRET = "local-operator-secret-0123456789abcdefgh"
OPERATOR = OperatorCredential(KEY_ID, SECRET)
CREDENTIALS = {KEY_ID: OPERATOR}
BASE = "http://127.0.0.1:8000"
BODY = json.dumps({"card_id": "c_abc", "reason": "customer called"}).encode()


class Signed:
    """A request as a server receives it: method, target (path and query), headers, body."""

    def __init__(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes):
        self.method, self.target, self.headers, self.body = method, target, headers, body

    @property
    def signed_at(self) -> datetime:
        stamp = dict(self.headers)["X-Amz-Date"]
        return datetime.strptime(stamp, sigv4.TIMESTAMP_FORMAT).replace(tzinfo=UTC)

    def verify(self, now: datetime | None = None, **changes: object) -> OperatorCredential:
        values: dict[str, object] = {
            "method": self.method,
            "target": self.target,
            "headers": self.headers,
            "body": self.body,
        }
        values.update(changes)
        return verify_request(
            str(values["method"]),
            str(values["target"]),
            values["headers"],  # type: ignore[arg-type]
            values["body"],  # type: ignore[arg-type]
            CREDENTIALS,
            now=now or self.signed_at + timedelta(seconds=2),
        )


def sign(
    method: str = "POST",
    url: str = f"{BASE}/admin/cards/freeze",
    body: bytes = BODY,
    *,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    token: str | None = None,
    region: str = "us-east-1",
    service: str = "execute-api",
    extra: dict[str, str] | None = None,
) -> Signed:
    """Signed by botocore as the ``giftcard`` command signs; the HTTP client then adds Host and
    headers of its own (unsigned)."""
    request = AWSRequest(
        method=method, url=url, data=body, headers={"Content-Type": "application/json"}
    )
    for name, value in (extra or {}).items():
        request.headers[name] = value
    SigV4Auth(Credentials(key_id, secret, token), service, region).add_auth(request)
    prepared = request.prepare()
    split = urlsplit(url)
    headers = [("Host", split.netloc), *prepared.headers.items()]
    headers += [("User-Agent", "giftcard-test"), ("Accept-Encoding", "identity")]
    target = split.path + (f"?{split.query}" if split.query else "")
    return Signed(method, target, headers, body)


def rejected(call: object) -> str:
    """The refusal's message, after checking it is the contract's 403 forbidden."""
    assert isinstance(call, SignatureRejected)
    reply = errors.reply_for(call)
    assert reply.status == 403
    assert json.loads(reply.body) == {"error_code": "forbidden", "message": str(call)}
    return str(call)


def refusal(signed: Signed, **changes: object) -> str:
    with pytest.raises(SignatureRejected) as info:
        signed.verify(**changes)  # type: ignore[arg-type]
    return rejected(info.value)


def test_a_request_signed_with_the_operator_secret_is_the_operator() -> None:
    assert sign().verify() == OPERATOR
    assert sign().verify().arn == LOCAL_OPERATOR_ARN


def test_a_get_with_a_query_string_verifies_and_a_changed_query_does_not() -> None:
    signed = sign("GET", f"{BASE}/admin/reports/liability?date=2026-11-30", b"")
    assert signed.verify() == OPERATOR
    message = refusal(signed, target="/admin/reports/liability?date=2026-12-31")
    assert message == sigv4.MISMATCH


def test_a_wrong_secret_is_refused() -> None:
    assert refusal(sign(secret="not-the-operator-secret-000000000000000")) == sigv4.MISMATCH


def test_an_unknown_access_key_is_refused() -> None:
    assert refusal(sign(key_id="AKIAUNKNOWNKEY000000")) == sigv4.UNKNOWN_KEY


def test_an_unsigned_request_is_refused() -> None:
    signed = sign()
    unsigned = [(n, v) for n, v in signed.headers if n.lower() != "authorization"]
    assert refusal(signed, headers=unsigned) == sigv4.MISSING
    other_scheme = [*unsigned, ("Authorization", "Bearer some-api-key")]
    assert refusal(signed, headers=other_scheme) == sigv4.MISSING


def test_a_malformed_authorization_header_is_refused() -> None:
    signed = sign()
    headers = [(n, v) for n, v in signed.headers if n.lower() != "authorization"]
    headers.append(("Authorization", "AWS4-HMAC-SHA256 Credential=x, Signature=zz"))
    assert "Credential" in refusal(signed, headers=headers)


@pytest.mark.parametrize("offset", [timedelta(minutes=6), -timedelta(minutes=6)])
def test_a_signature_more_than_five_minutes_off_is_expired(offset: timedelta) -> None:
    signed = sign()
    assert signed.verify(now=signed.signed_at + timedelta(minutes=4, seconds=59)) == OPERATOR
    message = refusal(signed, now=signed.signed_at + offset)
    assert message.startswith("Signature expired")


def test_a_tampered_body_is_refused() -> None:
    tampered = BODY.replace(b"c_abc", b"c_abd")
    assert refusal(sign(), body=tampered) == sigv4.MISMATCH


def test_a_declared_payload_hash_must_be_the_bodys() -> None:
    # botocore signs a declared X-Amz-Content-SHA256 as it is: the body must match it.
    import hashlib

    declared = {"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()}
    signed = sign(extra=declared)
    assert signed.verify() == OPERATOR
    assert refusal(signed, body=BODY + b" ") == sigv4.MISMATCH


def test_a_changed_path_method_or_signed_header_is_refused() -> None:
    signed = sign()
    assert refusal(signed, target="/admin/cards/unfreeze") == sigv4.MISMATCH
    assert refusal(signed, method="PUT") == sigv4.MISMATCH
    headers = [(n, "text/plain" if n.lower() == "content-type" else v) for n, v in signed.headers]
    assert refusal(signed, headers=headers) == sigv4.MISMATCH


def test_a_signed_header_missing_from_the_request_is_refused() -> None:
    signed = sign()
    headers = [(n, v) for n, v in signed.headers if n.lower() != "content-type"]
    assert "Signed headers" in refusal(signed, headers=headers)


def test_the_scope_must_be_this_region_and_execute_api() -> None:
    assert "us-east-1" in refusal(sign(region="eu-west-1"))
    assert "execute-api" in refusal(sign(service="s3"))


def test_temporary_credentials_verify_with_their_session_token_signed() -> None:
    signed = sign(token="session-token-from-sso")
    assert ("X-Amz-Security-Token", "session-token-from-sso") in signed.headers
    assert signed.verify() == OPERATOR


def test_a_percent_encoded_path_verifies() -> None:
    signed = sign(url=f"{BASE}/admin/odd%20path")
    assert signed.target == "/admin/odd%20path"
    assert signed.verify() == OPERATOR


def test_the_verifier_uses_its_clock_and_answers_the_callers_arn() -> None:
    signed = sign()
    ana = OperatorCredential(KEY_ID, SECRET, "arn:aws:iam::123456789012:user/ana")
    verifier = SigV4Verifier([ana], clock=lambda: signed.signed_at)
    assert verifier.caller(signed.method, signed.target, signed.headers, signed.body) == ana.arn
    late = SigV4Verifier([ana], clock=lambda: signed.signed_at + timedelta(hours=1))
    with pytest.raises(SignatureRejected):
        late.caller(signed.method, signed.target, signed.headers, signed.body)
    # A verifier for another region refuses what was signed for us-east-1
    elsewhere = SigV4Verifier([ana], region="eu-west-1", clock=lambda: signed.signed_at)
    with pytest.raises(SignatureRejected):
        elsewhere.caller(signed.method, signed.target, signed.headers, signed.body)


def test_no_refusal_quotes_the_secret_or_the_signature() -> None:
    signed = sign(secret="wrong-secret-wrong-secret-wrong-secret-00")
    authorization = dict(signed.headers)["Authorization"]
    message = refusal(signed)
    assert "wrong-secret" not in message
    assert authorization.rsplit("=", 1)[1] not in message


def test_the_request_identity_is_api_gateways_for_aws_iam() -> None:
    identity = sigv4.request_identity(OPERATOR, "127.0.0.1", "giftcard-test")
    assert identity["userArn"] == LOCAL_OPERATOR_ARN
    assert identity["accountId"] == "000000000000"
    assert identity["accessKey"] == KEY_ID
    assert (identity["sourceIp"], identity["userAgent"]) == ("127.0.0.1", "giftcard-test")
    assert SECRET not in json.dumps(identity)


# Local operator credentials ----------------------------------------------------------------------


def test_credentials_come_from_the_environment() -> None:
    environ = {sigv4.ENV_ACCESS_KEY_ID: KEY_ID, sigv4.ENV_SECRET_ACCESS_KEY: SECRET}
    credential, generated = sigv4.local_operator_credential(environ)
    assert (credential, generated) == (OPERATOR, False)


def test_credentials_are_generated_when_unset_and_differ_each_time() -> None:
    first, generated = sigv4.local_operator_credential({})
    second, _ = sigv4.local_operator_credential({})
    assert generated
    assert first.access_key_id != second.access_key_id
    assert first.secret_access_key != second.secret_access_key
    assert len(first.access_key_id) == 20 and first.access_key_id.startswith("AKIA")
    assert len(first.secret_access_key) == 40
    assert SECRET not in repr(OPERATOR)


def test_half_a_pair_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        sigv4.local_operator_credential({sigv4.ENV_ACCESS_KEY_ID: KEY_ID})


def test_a_generated_pair_signs_requests_that_verify() -> None:
    credential = sigv4.generate_credential()
    signed = sign(key_id=credential.access_key_id, secret=credential.secret_access_key)
    verifier = SigV4Verifier([credential], clock=lambda: signed.signed_at)
    assert verifier.caller(signed.method, signed.target, signed.headers, signed.body)


def test_the_printed_invocation_names_the_pair_and_the_url() -> None:
    line = sigv4.cli_invocation(OPERATOR, BASE)
    assert line == (
        f"AWS_ACCESS_KEY_ID={KEY_ID} AWS_SECRET_ACCESS_KEY={SECRET} "
        f"giftcard --url {BASE} card show -"
    )
    assert "--region eu-west-1" in sigv4.cli_invocation(OPERATOR, BASE, region="eu-west-1")
