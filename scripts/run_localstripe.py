#!/usr/bin/env python
"""Run localstripe (a stateful fake of the Stripe API) on loopback only.

    scripts/run_localstripe.py [PORT] [--state FILE]

localstripe's own command listens on every interface; this binds 127.0.0.1 (default port 8420).
It also serves a stand-in Stripe.js at /js.stripe.com/v3/.

Stock localstripe shares one /tmp/localstripe.pickle between every instance on the machine,
rewrites it whole on every write (quadratic over a long run) and dies at start when a killed
instance left it truncated. Here the store lives in memory, indexed by object type so that lists
do not scan everything; with --state FILE it is also kept in FILE (rewritten atomically after each
write request, and a damaged file is set aside rather than fatal), so `make run` survives restarts.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web
from localstripe import resources
from localstripe.server import app

log = logging.getLogger("run_localstripe")
_by_type: dict[str, dict[str, Any]] = collections.defaultdict(dict)
_state: Path | None = None


def _object_type(key: str) -> str:
    return key.split(":", 1)[0]


def _setitem(self: resources.Store, key: str, value: Any) -> None:
    dict.__setitem__(self, key, value)
    _by_type[_object_type(key)][key] = value


def _delitem(self: resources.Store, key: str) -> None:
    dict.__delitem__(self, key)
    _by_type[_object_type(key)].pop(key, None)


def _clear(self: resources.Store) -> None:
    dict.clear(self)
    _by_type.clear()


def _dump(self: resources.Store) -> None:
    if _state is None:
        return
    with tempfile.NamedTemporaryFile(dir=_state.parent, prefix=".localstripe-", delete=False) as f:
        pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(f.name, _state)


def _load(self: resources.Store) -> None:
    if _state is None or not _state.exists():
        return
    try:
        with _state.open("rb") as f:
            saved = pickle.load(f)  # noqa: S301 (our own file, in var/)
    except Exception as error:  # a truncated or foreign file: keep it aside, start empty
        aside = _state.with_suffix(".damaged")
        _state.replace(aside)
        log.warning("localstripe: %s unreadable (%s); moved to %s", _state, error, aside)
        return
    dict.clear(self)
    _by_type.clear()
    for key, value in saved.items():
        dict.__setitem__(self, key, value)
        _by_type[_object_type(key)][key] = value


def _list_all(cls: Any, url: str, limit: Any = None, starting_after: Any = None, **kwargs: Any):
    if kwargs:
        raise resources.UserError(400, "Unexpected " + ", ".join(kwargs))
    found = resources.List(url, limit=limit, starting_after=starting_after)
    found._list = list(_by_type[cls.object].values())
    return found


resources.Store.__setitem__ = _setitem
resources.Store.__delitem__ = _delitem
resources.Store.clear = _clear
resources.Store.dump_to_disk = _dump
resources.Store.try_load_from_disk = _load
resources.StripeObject._api_list_all = classmethod(_list_all)


def main() -> None:
    global _state
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port", nargs="?", type=int, default=8420)
    parser.add_argument("--state", type=Path, help="keep the store in this file across restarts")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.state is not None:
        _state = args.state.resolve()
        _state.parent.mkdir(parents=True, exist_ok=True)
        resources.store.try_load_from_disk()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
