"""Gift card provider for NewStore: the code of the shared Lambda layer.

Every handler imports ``giftcard`` first, so the cold-start measures (``giftcard.coldstart``,
behind one switch) are applied here, before anything else of the service is imported.
"""

from giftcard.coldstart import IN_LAMBDA, cold_start_done, start

start()

__all__ = ["IN_LAMBDA", "cold_start_done"]
