"""The ``giftcard`` command: the operator API for support, fraud and finance, and the bulk
operations (printed stock, print runs, card exports) that work on the table directly.

    giftcard [--url URL | --stack NAME] [--profile P] [--region R] [--json] COMMAND ...

``main`` parses and dispatches; ``client`` signs requests to the operator API (SigV4 with the
caller's own AWS credentials); ``bulk`` points the service's repository at a table and key
material; ``output`` renders tables for people and JSON for scripts; ``numbers`` reads card
numbers without ever echoing them. See docs/operations.md, "The giftcard command".
"""
