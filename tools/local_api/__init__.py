"""The whole API on 127.0.0.1, without AWS: ``make run`` (``python -m tools.local_api``).

moto serves DynamoDB and Secrets Manager; a small local gateway turns each HTTP request into an
API Gateway REST proxy event, runs the real authorizer and the real handler of the route, and
writes the handler's answer. Same code paths as the deployed API; only the endpoint differs.

Like the deployed stack (WAF, then API Gateway, then the authorizer), the gateway answers:
body over the limit -> 413; unknown path -> 404; then the API key (401, or 503 when the
authorizer fails); another method than POST on a known path -> 405; then the route's handler.

Modules: ``gateway`` (proxy events, the authorizer run, 404/405 and error mapping), ``server``
(HTTP, the 413 limit, the access log), ``docs`` (Swagger UI at ``/docs``), ``moto_setup`` (moto,
its journal, the table and secrets), ``scheduler`` (the reservation expiry job), ``main``.

Environment:
  PORT       port to listen on (default 8000; 0 picks a free one)
  API_KEY    the API key to accept (default: a new random key, printed)
  STOCK_CSV  printed card stock (CSV ``number,pin``) to import at start
  and every deployment setting (TABLE_NAME, API_KEY_HEADER, PIN_LENGTH, ...; see docs/contract.md).
"""

from tools.local_api.gateway import (
    Answer,
    Gateway,
    LambdaContext,
    ServedRoute,
    load_authorizer,
    load_routes,
    path_pattern,
    policy_allows,
)
from tools.local_api.main import main
from tools.local_api.server import LocalServer

__all__ = [
    "Answer",
    "Gateway",
    "LambdaContext",
    "LocalServer",
    "ServedRoute",
    "load_authorizer",
    "load_routes",
    "main",
    "path_pattern",
    "policy_allows",
]
