"""`python -m bot`: the same bot, with the same settings, as `newsbot bot`."""

from __future__ import annotations

import sys

from newsbot.services import build_services, configure_logging, start_bot
from newsbot.settings import load_settings
from retrieval.errors import NewsbotError
from retrieval.store_lock import BOT_PURPOSE


def main() -> int:
    try:
        settings = load_settings()
        configure_logging(settings.log.level)
        start_bot(
            build_services(settings, purpose=BOT_PURPOSE),
            sync_global="--sync-global" in sys.argv[1:],
        )
    except NewsbotError as exc:
        print(f"newsbot: {exc.user_message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
