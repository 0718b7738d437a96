"""The barest ceiling of the HTTP figures: a hello-world ASGI app on the services' server stack.

    .venv/bin/python -m bench.hello --port 8098

No framework, no middleware: any request's body is read and dropped, and every answer is
200 "Hello, world!". It runs under `serve`, the uvicorn settings of runtime.service.serve (uvloop,
httptools, no access log), which the constant app of bench/intake_api.py uses too; the gap between
the two is what FastAPI and the shared make_api conventions cost.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from bench.common import free_port

BODY = b"Hello, world!"
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def serve(asgi: Any, port: int) -> None:
    """uvicorn as runtime.service.serve runs a service (loopback here): the same parser and loop."""
    config = uvicorn.Config(
        asgi,
        host="127.0.0.1",
        port=port,
        lifespan="on",
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    uvicorn.Server(config).run()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    serve(app, args.port or free_port())


if __name__ == "__main__":
    main()
