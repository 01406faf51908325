"""The ledger model test as a package: ``model`` (the independent oracle: what each request must
answer and change), ``strategies`` (what hypothesis draws), ``harness`` (the real handlers on
moto), the rules by family (``webhooks``, ``redemption``, and in ``machine`` the rules that cross
families: replays and PIN races), ``invariants`` (what storage must equal after every step).
``tests/reliability/test_ledger_model.py`` runs it."""
