#!/usr/bin/env python
"""Run localstripe (a stateful fake of the Stripe API) on loopback only.

localstripe's own command listens on every interface; this binds 127.0.0.1. It also serves a
stand-in Stripe.js at /js.stripe.com/v3/. Usage: scripts/run_localstripe.py [PORT] (default 8420).
"""

import logging
import sys

from aiohttp import web
from localstripe.resources import store
from localstripe.server import app


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8420
    store.try_load_from_disk()
    logging.basicConfig(level=logging.WARNING)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
