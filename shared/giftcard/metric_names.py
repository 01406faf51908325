"""The service's custom metric names: one list for the code that emits them and the stack that
alarms on them (``infra/monitoring.py``). No dependencies, so the stack can import it."""

PIN_LOCKOUTS = "PinLockouts"
PIN_FAILURES = "PinFailures"
PIN_HARD_LOCKS = "PinHardLocks"
REPLAYS = "IdempotentReplays"
#: A replay whose parameters differ from the first request's (the stack alarms on it).
IDEMPOTENCY_KEY_REUSED = "IdempotencyKeyReused"
RETRIES_EXHAUSTED = "StorageRetriesExhausted"
#: A load refused by the daily issuance ceiling, and a load that took a day's total past the
#: warning fraction of it (both alarmed: a leaked API key minting value looks like this).
ISSUANCE_LIMIT_REACHED = "IssuanceLimitReached"
ISSUANCE_CEILING_NEAR = "IssuanceCeilingNear"
RESERVATIONS_EXPIRED = "ReservationsExpired"
#: The nightly audit (``giftcard.audit_job``): what is owed per currency (dimension ``currency``,
#: major units), cards whose balance or held does not match their ledger (alarmed: any is a bug
#: or tampering), and how many cards it checked.
AUDIT_OUTSTANDING = "AuditOutstanding"
AUDIT_MISMATCHES = "AuditMismatches"
AUDIT_CARDS_CHECKED = "AuditCardsChecked"
