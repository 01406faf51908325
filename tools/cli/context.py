"""What every command gets: its arguments, the output, standard input and, on first use, the
signed operator API client."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TextIO

from tools.cli.client import OperatorClient, operator_client
from tools.cli.output import Output


@dataclass
class Context:
    args: argparse.Namespace
    out: Output
    stdin: TextIO
    _api: OperatorClient | None = field(default=None, repr=False)

    def api(self) -> OperatorClient:
        if self._api is None:
            self._api = operator_client(
                self.args.url, self.args.stack, self.args.profile, self.args.region
            )
        return self._api
