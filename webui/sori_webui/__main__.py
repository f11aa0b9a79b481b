"""`python -m sori_webui [--server URL] [--host H] [--port P]`: start the operators' web GUI."""

from __future__ import annotations

import argparse
import os

from .app import CSS, build
from .client import SoriClient


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="sori-webui", description="sori 1339 운영 콘솔 (Gradio)")
    p.add_argument(
        "--server", default=os.environ.get("SORI_URL", "http://127.0.0.1:8080"), help="sori HTTP API"
    )
    p.add_argument("--host", default=os.environ.get("SORI_WEBUI_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("SORI_WEBUI_PORT", "7860")))
    args = p.parse_args(argv)
    # The token comes from the environment only, so it never shows in `ps`.
    client = SoriClient(args.server, token=os.environ.get("SORI_HTTP_TOKEN") or None)
    app = build(client)
    print(f"sori 웹 GUI: http://{args.host}:{args.port}  (sori 서버 {args.server})", flush=True)
    app.launch(server_name=args.host, server_port=args.port, css=CSS, quiet=True, footer_links=[])


if __name__ == "__main__":
    main()
