"""The operator API calls the console forwards: method, path, and the least policy that may make
them (back-office.md, "Operator API"). Anything else the page asks for is refused, so the
console's signing server is never a general-purpose signer for the operator's credentials."""

from __future__ import annotations

from dataclasses import dataclass

SUPPORT = "support"
FINANCE = "finance"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    policy: str  #: SUPPORT or FINANCE (finance may make every call)
    label: str  #: what the page calls it in an error ("freeze a card")


OPERATIONS: tuple[Operation, ...] = (
    Operation("POST", "/admin/cards/lookup", SUPPORT, "look up a card"),
    Operation("POST", "/admin/cards/history", SUPPORT, "read a card's history"),
    Operation("POST", "/admin/cards/freeze", SUPPORT, "freeze a card"),
    Operation("POST", "/admin/cards/unfreeze", SUPPORT, "unfreeze a card"),
    Operation("POST", "/admin/cards/unlock_pin", SUPPORT, "unlock a card's PIN"),
    Operation("POST", "/admin/cards/adjust", FINANCE, "adjust a balance"),
    Operation("POST", "/admin/cards/expiry", FINANCE, "set an expiry"),
    Operation("POST", "/admin/customers/cards", SUPPORT, "find a customer's cards"),
    Operation("POST", "/admin/customers/erase", FINANCE, "erase a customer"),
    Operation("GET", "/admin/reports/liability", FINANCE, "read the liability report"),
    Operation("GET", "/admin/reports/dormancy", FINANCE, "read the dormancy report"),
    Operation("POST", "/admin/audit/run", FINANCE, "run the audit"),
    Operation("GET", "/admin/audit/latest", FINANCE, "read the latest audit"),
    Operation("GET", "/admin/events/recent", SUPPORT, "read recent events"),
)

BY_ROUTE = {(operation.method, operation.path): operation for operation in OPERATIONS}
