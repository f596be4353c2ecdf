"""Helpers for the scenarios: a Ditto client of the official `ditto-client` package, and `step`,
which runs one call of it, checks the status the wire answered and prints one JSON line for it.

Every call goes through the client's own API (request builders, models, request configurations).
An httpx response hook only observes what came back on the wire (status, headers, body, and which
connection carried it), so that a scenario can check statuses the client's models do not expose
and show that a connection survives a 304 or a 412.
"""

import json
import os
import sys

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_http.httpx_request_adapter import HttpxRequestAdapter
from kiota_http.kiota_client_factory import KiotaClientFactory

from ditto_client import BasicAuthProvider
from ditto_client.generated.ditto_client import DittoClient


class Wire:
    """The last answer seen on the wire, and the connections answers came on."""

    def __init__(self):
        self.last = None
        self.streams = {}

    async def on_response(self, response):
        await response.aread()
        stream = response.extensions.get("network_stream")
        key = id(stream)
        self.streams.setdefault(key, len(self.streams) + 1)
        self.last = {
            "status": response.status_code,
            "headers": {k.lower(): v for k, v in response.headers.items()},
            "body": response.content.decode("utf-8", "replace"),
            "connection": self.streams[key],
            "path": response.request.url.raw_path.decode("ascii"),
        }


def client(base_url, user, password):
    """A DittoClient for `base_url` as `user`, and the Wire observing its answers."""
    wire = Wire()
    http = httpx.AsyncClient(
        base_url=base_url,
        event_hooks={"response": [wire.on_response]},
        # A scenario waits for devices that answer messages; Ditto's limit is 60 s.
        timeout=httpx.Timeout(70.0),
    )
    http = KiotaClientFactory.create_with_default_middleware(http)
    adapter = HttpxRequestAdapter(BasicAuthProvider(user_name=user, password=password), http_client=http)
    adapter.base_url = base_url
    return DittoClient(adapter), wire


def config(builder, method, headers=None, **query):
    """A RequestConfiguration for `builder.method` with the builder's own query parameter class."""
    cfg = RequestConfiguration()
    if query:
        name = next(
            n for n in dir(type(builder)) if n.endswith(f"{method.capitalize()}QueryParameters")
        )
        cfg.query_parameters = getattr(type(builder), name)(**query)
    for k, v in (headers or {}).items():
        cfg.headers.add(k, v)
    return cfg


def fail(name, why):
    print(json.dumps({"step": name, "error": why}), flush=True)
    sys.exit(1)


async def step(name, wire, expect, call, body=None):
    """Runs `call` (a coroutine), checks the status is `expect` and, when given, that the JSON body
    is `body`; prints {"step", "status", "body", "headers", "connection"}. A transport failure, a
    model the client cannot parse, or another status ends the scenario with the step named."""
    wire.last = None
    result = None
    try:
        result = await call
    except APIError as e:
        if wire.last is None:
            fail(name, f"client error without an answer: {e!r}")
    except Exception as e:  # noqa: BLE001 - any other failure is the step's failure
        fail(name, f"{type(e).__name__}: {e}")
    seen = wire.last
    if seen is None:
        fail(name, "no answer seen")
    if seen["status"] != expect:
        fail(name, f"status {seen['status']}, expected {expect}: {seen['body']}")
    parsed = json.loads(seen["body"]) if seen["body"] else None
    if body is not None and parsed != body:
        fail(name, f"body {seen['body']}, expected {json.dumps(body)}")
    kept = ("etag", "location", "content-length", "channel", "live-channel-condition-matched")
    keep = {k: seen["headers"][k] for k in kept if k in seen["headers"]}
    print(
        json.dumps(
            {
                "step": name,
                "status": seen["status"],
                "path": seen["path"],
                "body": parsed,
                "headers": keep,
                "connection": seen["connection"],
            }
        ),
        flush=True,
    )
    return result, seen


def env(name):
    v = os.environ.get(name)
    if not v:
        fail("setup", f"{name} is not set")
    return v
