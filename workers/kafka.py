from contextlib import suppress

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from settings import Settings

ORDERS = "orders"
MARKET_EVENTS = "market-events"
PARTITIONS = 8


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
