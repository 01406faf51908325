"""moto as a server on loopback: the DynamoDB and Secrets Manager the benchmark talks to."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def loopback_aws() -> Iterator[dict[str, str]]:
    """A moto server on 127.0.0.1 with the service's table and secrets; yields the environment
    the service (and child interpreters) must run with. Process caches are reset around it."""
    from moto.server import ThreadedMotoServer

    from giftcard import http
    from tests.support.aws import BASE_ENV, provision

    # One line per request on stderr otherwise.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # moto's backends live in this process, whatever the port: a second loopback run (the audit's
    # after the local scale's) would meet the first one's table. Start from nothing.
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"),
        timeout=10,
    ).close()
    saved = dict(os.environ)
    try:
        os.environ.update(BASE_ENV)
        os.environ["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{port}"
        for variable in ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_PROFILE", "AWS_CONFIG_FILE"):
            os.environ.pop(variable, None)
        http.reset()
        provision()
        yield dict(os.environ)
    finally:
        http.reset()
        os.environ.clear()
        os.environ.update(saved)
        server.stop()
