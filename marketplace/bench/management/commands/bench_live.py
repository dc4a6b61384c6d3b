"""Benchmark the live features (chat, tracking) end to end: a real uvicorn, real WebSocket clients.

    DATABASE_URL=postgis://postgres@127.0.0.1:5432/waypost_bench python manage.py bench_live

Starts `uvicorn config.asgi:application` on a free loopback port (local settings, the Redis
Pub/Sub channel layer on REDIS_URL, eager Celery) against this database, seeds deliveries in
transit through the services (bench/live/seed.py), mints JWT access tokens and connects
each courier and shipper over `?token=` (bench/live/load.py). Then measures:

  chat      courier sends a message -> the shipper's socket receives it (one at a time)
  tracking  every courier pings for a while (each waits for its ack); pings ingested per second,
            positions delivered to the shippers, and lost = accepted - delivered
  layer     the bare channels-redis group_send -> receive round trip, in-process

Targets: chat p95 < CHAT_P95_MS, at least PINGS_PER_S ingested and delivered, nothing lost.
Refuses to run unless the database name contains "bench" or starts with "test_": it adds users.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import numpy as np
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from marketplace.bench.live import load
from marketplace.bench.live.seed import deliveries_in_transit
from marketplace.bench.live.server import uvicorn_server
from marketplace.bench.scratch import require_scratch

CHAT_P95_MS = 30.0
PINGS_PER_S = 1_000.0
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "TARGET MISSED"


class Command(BaseCommand):
    help = "Chat and tracking over real WebSockets against a uvicorn subprocess (docs in module)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--deliveries", type=int, default=100)
        parser.add_argument("--messages", type=int, default=300)
        parser.add_argument("--seconds", type=float, default=10.0, help="tracking duration")
        parser.add_argument("--max-pings", type=int, default=100_000, help="tracking cap")
        parser.add_argument("--group-sends", type=int, default=300)
        parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
        parser.add_argument("--settings-module", default="config.settings.local")
        parser.add_argument(
            "--redis-url", default=os.environ.get("BENCH_LIVE_REDIS_URL", DEFAULT_REDIS_URL)
        )

    def handle(self, *args: Any, **options: Any) -> None:
        redis_url = options["redis_url"]
        require_scratch(redis_url)
        name = connection.settings_dict["NAME"]
        count = options["deliveries"]
        if not 1 <= count <= 1_000:
            raise CommandError("--deliveries must be between 1 and 1000.")
        out = self.stdout.write
        out(f"bench_live on database {name}, Redis {redis_url}, {os.cpu_count()} CPUs")
        out(f"load average before: {self._load()}")

        started = time.perf_counter()
        seeded = deliveries_in_transit(count)
        out(f"seeded {count} deliveries in transit in {time.perf_counter() - started:.1f} s")
        parties = [
            load.Party(
                live=live,
                courier_token=str(AccessToken.for_user(live.courier)),
                shipper_token=str(AccessToken.for_user(live.shipper)),
            )
            for live in seeded
        ]
        connection.close()  # the server has its own connections; keep ours out of the way

        with uvicorn_server(
            settings_module=options["settings_module"],
            redis_url=redis_url,
            workers=options["workers"],
        ) as server:
            out(f"uvicorn ({options['workers']} worker(s)) on {server.http_url}")
            try:
                report = asyncio.run(self._measure(server.ws_url, parties, options))
            except Exception as exc:
                raise CommandError(f"{exc!r}\nuvicorn log:\n{server.log_tail()}") from exc
        self._print(report, options)
        out(f"load average after: {self._load()}")

    @staticmethod
    def _load() -> str:
        one, five, fifteen = os.getloadavg()
        return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"

    async def _measure(
        self, ws_url: str, parties: list[load.Party], options: dict[str, Any]
    ) -> dict[str, Any]:
        started = time.perf_counter()
        await load.open_sockets(ws_url, parties)
        connect_s = time.perf_counter() - started
        marker = round(7 + (time.time_ns() % 9973) / 10_000, 4)
        readers = load.Readers(parties, marker)
        try:
            await asyncio.sleep(0.5)  # the opening frames (status) arrive before we start
            chat = await load.chat_round_trips(parties, readers, messages=options["messages"])
            track = await load.tracking_fan_out(
                parties, readers, seconds=options["seconds"], max_pings=options["max_pings"]
            )
        finally:
            await readers.stop()
            await load.close_sockets(parties)
        layer = await load.group_send_round_trips(
            options["redis_url"], count=options["group_sends"]
        )
        return {"connect_s": connect_s, "chat": chat, "track": track, "layer": layer}

    def _print(self, report: dict[str, Any], options: dict[str, Any]) -> None:
        out = self.stdout.write
        chat: load.ChatResult = report["chat"]
        track: load.TrackResult = report["track"]
        layer: list[float] = report["layer"]
        sockets = 4 * options["deliveries"]
        out(f"\nconnected {sockets} sockets in {report['connect_s']:.2f} s")

        chat_p50, chat_p95 = _pct(chat.ms, 50), _pct(chat.ms, 95)
        out(
            f"\n(a) chat round trip, courier -> shipper, {len(chat.ms)} messages"
            f" ({chat.timeouts} timed out): p50 {chat_p50:.1f} ms, p95 {chat_p95:.1f} ms,"
            f" max {max(chat.ms, default=float('nan')):.1f} ms"
        )

        ingested = track.accepted / track.seconds if track.seconds else 0.0
        delivered = track.delivered / track.delivered_seconds if track.delivered_seconds else 0.0
        lost = track.accepted - track.delivered
        out(
            f"\n(b) tracking fan-out, {options['deliveries']} couriers for {track.seconds:.1f} s:"
            f"\n    sent {track.sent}, accepted (acks) {track.accepted},"
            f" rejected {dict(track.rejected) or 0}, errors {dict(track.errors) or 0}"
            f"\n    ingested {ingested:.0f} pings/s, delivered to shippers {delivered:.0f}"
            f" positions/s ({track.delivered} positions, the last {track.delivered_seconds:.2f} s"
            " after the first ping)"
            f"\n    lost = accepted - delivered = {lost}"
            f" (deliveries short of positions: {track.per_delivery_short})"
        )

        layer_p50, layer_p95 = _pct(layer, 50), _pct(layer, 95)
        out(
            f"\n(c) bare channels-redis group_send -> receive, {len(layer)} round trips:"
            f" p50 {layer_p50:.2f} ms, p95 {layer_p95:.2f} ms"
        )
        out(
            f"    ratios: chat / layer p50 {chat_p50 / layer_p50:.1f}x,"
            f" p95 {chat_p95 / layer_p95:.1f}x;"
            f" tracking ingest per ping {1000 / ingested if ingested else float('nan'):.2f} ms"
            f" vs layer p50 {layer_p50:.2f} ms"
        )

        nothing_lost = lost == 0 and chat.timeouts == 0 and track.sent == track.accepted
        out("\ntargets:")
        out(
            f"  chat p95 < {CHAT_P95_MS:.0f} ms: {chat_p95:.1f} ms"
            f" {_verdict(bool(chat.ms) and chat_p95 < CHAT_P95_MS)}"
        )
        out(
            f"  >= {PINGS_PER_S:.0f} pings/s ingested and delivered: {ingested:.0f} and"
            f" {delivered:.0f} {_verdict(min(ingested, delivered) >= PINGS_PER_S)}"
        )
        out(
            f"  nothing lost (positions {lost}, chat timeouts {chat.timeouts},"
            f" pings refused {track.sent - track.accepted}): {_verdict(nothing_lost)}"
        )
