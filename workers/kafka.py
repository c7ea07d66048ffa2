from contextlib import suppress

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from settings import Settings

ORDERS = "orders"
MARKET_EVENTS = "market-events"
PARTITIONS = 8

# The order path's client settings, shared by the API, the matcher and `workers.broker_bench`.
# Producer: no linger (a record goes out at once, or with the next request when one is in
# flight), the leader's acknowledgement only.
PRODUCER = {"linger_ms": 0, "acks": 1, "enable_idempotence": False}
# Matcher's consumer: a fetch waits at most 5 ms for records (aiokafka's default, 500 ms,
# would be the latency of a quiet market); a batch takes up to 2,000 records.
MATCHER_CONSUMER = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "fetch_max_wait_ms": 5,
    "max_poll_records": 2_000,
}


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the platform's topics if the broker does not have them yet."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        wanted = [settings.topic(ORDERS), settings.topic(MARKET_EVENTS)]
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, PARTITIONS, 1) for name in wanted if name not in existing]
        if missing:
            with suppress(TopicAlreadyExistsError):  # another process was first
                await admin.create_topics(missing)
        return wanted
    finally:
        await admin.close()
