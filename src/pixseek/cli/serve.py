"""`pixseek serve`: the web UI and the HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from pixseek.cli.common import MaxImageSecondsOpt, MaxWorkerMbOpt, fail, open_library, _state, err
from pixseek.pipeline.limits import DEFAULT_IMAGE_SECONDS, DEFAULT_MEMORY_MB


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on; 0.0.0.0 for every interface.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8080,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Processes that analyse uploads.")] = 1,
    web_workers: Annotated[
        int,
        typer.Option(
            min=1, max=64,
            help="Processes that answer requests (one of them also runs the analysis of uploads); "
            "more serve more searches at once, each with its own memory.",
        ),
    ] = 1,
    handler_threads: Annotated[
        int, typer.Option(min=1, max=256, help="Threads per process running request handlers.")
    ] = 8,
    max_upload_mb: Annotated[int, typer.Option(min=1, max=100_000, help="Largest file to accept, MiB.")] = 50,
    secure_cookies: Annotated[
        bool, typer.Option("--secure-cookies", help="Mark the session cookie Secure (serving over HTTPS).")
    ] = False,
    faces: Annotated[bool, typer.Option("--faces/--no-faces", help="Find faces in uploads and group them into people.")] = True,
    ocr: Annotated[bool, typer.Option("--ocr/--no-ocr", help="Read the text in uploads so it can be searched.")] = True,
    max_worker_mb: MaxWorkerMbOpt = DEFAULT_MEMORY_MB,
    max_image_seconds: MaxImageSecondsOpt = DEFAULT_IMAGE_SECONDS,
) -> None:
    """Run the web UI and the HTTP API (docs/http-api.md) over this library."""
    import logging

    from pixseek.service.auth import is_loopback_host
    from pixseek.service.settings import MiB, ServiceSettings

    library = open_library()
    loopback = is_loopback_host(host)
    if not loopback and not library.store.accounts.any_credentials():
        fail(
            f"refusing to listen on {host}: no user has a password or token, so anyone who can reach the "
            "server would get every image. Create one first (`pixseek user add NAME`, "
            "`pixseek user token NAME`), or listen on 127.0.0.1.",
            code=2,
        )
    settings = ServiceSettings(
        home=library.paths.home,
        store=library.paths.store,
        workers=workers,
        web_workers=web_workers,
        handler_threads=handler_threads,
        max_upload_bytes=max_upload_mb * MiB,
        secure_cookies=secure_cookies,
        single_user=loopback,
        faces=faces,
        ocr=ocr,
        max_worker_mb=max_worker_mb or None,
        max_image_seconds=max_image_seconds or None,
    )
    library.close()  # the service opens its own reader and writer
    _state.pop("library", None)

    import uvicorn

    from pixseek.service.app import create_app

    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
    shown = f"[{host}]" if ":" in host else host
    err.print(f"pixseek: serving {settings.home} on http://{shown}:{port}/", highlight=False, soft_wrap=True)
    common = dict(host=host, port=port, server_header=False, timeout_graceful_shutdown=10, log_level="info")
    if web_workers == 1:
        uvicorn.run(create_app(settings), **common)
    else:  # uvicorn starts the processes (spawned), each imports the app by name and has its own queue
        from pixseek.service.serving import run_web_workers

        settings.to_environment()
        run_web_workers(web_workers, **common)
