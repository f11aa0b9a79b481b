"""sori-train COMMAND [args]: build-dataset | finetune | evaluate | compare | export (each takes --help)."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "build-dataset": "sori_training.dataset",
    "finetune": "sori_training.finetune",
    "evaluate": "sori_training.evaluation",
    "compare": "sori_training.evaluation:compare_main",
    "export": "sori_training.export",
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        raise SystemExit(2)
    module, _, func = COMMANDS[argv[0]].partition(":")
    getattr(importlib.import_module(module), func or "main")(argv[1:])


if __name__ == "__main__":
    main()
