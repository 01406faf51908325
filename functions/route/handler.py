# route
"""Every route's Lambda: one function per route, all from this file. The stack sets
GIFTCARD_ROUTE to the route's name; ``giftcard.routes`` says what that route parses, runs and
may touch."""

from giftcard.http import handler_from_environment

lambda_handler = handler_from_environment()
