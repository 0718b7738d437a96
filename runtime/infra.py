"""Infrastructure commands used by the local scripts:
python -m runtime.infra kafka-ready BOOTSTRAP   exit 0 once the broker answers metadata requests
python -m runtime.infra topics                  create the topic map's topics (idempotent)
"""

from __future__ import annotations

import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient

from runtime.provision import ensure_topics
from runtime.settings import Settings


async def kafka_ready(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.describe_cluster()
        return True
    except Exception:
        return False
    finally:
        await admin.close()


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "kafka-ready" and len(argv) == 2:
        return 0 if asyncio.run(kafka_ready(argv[1])) else 1
    if command == "topics":
        settings = Settings()
        created = asyncio.run(ensure_topics(settings.kafka_bootstrap_servers, settings.topic_prefix))
        print(f"careloop: topics ready ({len(created)} created)")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
