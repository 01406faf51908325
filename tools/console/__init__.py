"""The operator console: the back office in a browser, served on 127.0.0.1 by a small local
server that signs every call to the operator API with the operator's own AWS credentials.

    app = ConsoleApp(api_base_url, credentials, region)   # mount it, or:
    serve(app, port=0, open_browser=True)              # what `giftcard console` does

Pages and scripts are in ``static/`` (plain HTML, CSS and JavaScript modules, no build step, no
CDN). docs/operations.md, "The operator console", says what each page does.
"""

from tools.console.app import ConsoleApp
from tools.console.operations import OPERATIONS, Operation
from tools.console.server import ConsoleServer, serve

__all__ = [
    "OPERATIONS",
    "ConsoleApp",
    "ConsoleServer",
    "Operation",
    "serve",
]
