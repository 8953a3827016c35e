"""Stalled and idle connections: a request body that stops arriving gets a JSON 408 (or 503 at shutdown) instead of
holding a task until uvicorn's shutdown cancels it (a text/plain 500 and a traceback); a connection with no
request under way (never sent one, half its headers, idle after a response) is closed after `idle_timeout_s`."""
from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

POLL_S = 0.2  # how often a waiting body read looks whether the server is shutting down


class _Answered(Exception):
    """The guard has answered the request itself; what the application does after that is discarded."""


class StallGuard:
    """ASGI middleware (outermost): every body read waits at most `read_timeout_s` for the next chunk, and at most
    until the server starts shutting down (`server.should_exit`)."""

    def __init__(self, app: Any, read_timeout_s: float, metrics: Any = None) -> None:
        self.app, self.read_timeout_s, self.metrics = app, read_timeout_s, metrics
        self.server: Any = None  # the uvicorn.Server, set once it exists

    def _stopping(self) -> bool:
        return bool(self.server is not None and self.server.should_exit)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = {"started": False, "answered": False}

        async def guarded_send(message: dict) -> None:
            if state["answered"]:
                return  # the guard's answer went out; the application's late one is dropped
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        async def answer(status: int, kind: str, detail: str) -> None:
            if self.metrics is not None:
                self.metrics.errors.labels(kind).inc()
            if not state["started"]:
                body = json.dumps({"error": kind, "detail": detail}).encode()
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
            state["answered"] = True

        async def guarded_receive() -> dict:
            task = asyncio.ensure_future(receive())
            waited = 0.0
            try:
                while True:
                    done, _ = await asyncio.wait({task}, timeout=POLL_S)
                    if done:
                        return task.result()
                    waited += POLL_S
                    if self._stopping():
                        await answer(503, "shutting_down", "the service is shutting down; the request body "
                                     "did not arrive in time")
                        raise _Answered
                    if waited >= self.read_timeout_s:
                        await answer(408, "request_timeout", f"no request body data for {self.read_timeout_s:g} s")
                        raise _Answered
            finally:
                if not task.done():
                    task.cancel()

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if not state["answered"]:
                raise
            # the guard answered; an error the application raised on the way out is the consequence, not news


class IdleClosingProtocol(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol, closing a connection on which no request is under way `idle_timeout_s` after it
    opened or after its last response (uvicorn's own keep-alive timer starts only after a first response)."""

    idle_timeout_s = 15.0

    def connection_made(self, transport: Any) -> None:  # noqa: D102
        super().connection_made(transport)
        self._idle_timer = self.loop.call_later(self.idle_timeout_s, self._idle_check)

    def on_response_complete(self) -> None:  # noqa: D102
        super().on_response_complete()
        self._rearm()

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: D102
        timer = getattr(self, "_idle_timer", None)
        if timer is not None:
            timer.cancel()
        super().connection_lost(exc)

    def _rearm(self) -> None:
        timer = getattr(self, "_idle_timer", None)
        if timer is not None:
            timer.cancel()
        self._idle_timer = self.loop.call_later(self.idle_timeout_s, self._idle_check)

    def _idle_check(self) -> None:
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not cycle.response_complete:
            self._rearm()  # a request is under way: its body reads have their own timeout (StallGuard)
            return
        if not self.transport.is_closing():
            self.transport.close()


def idle_closing(idle_timeout_s: float) -> type:
    """IdleClosingProtocol with this timeout (uvicorn takes the protocol as a class)."""
    return type("IdleClosingProtocol", (IdleClosingProtocol,), {"idle_timeout_s": float(idle_timeout_s)})
