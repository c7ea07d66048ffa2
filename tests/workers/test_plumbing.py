"""One real round trip through each server the workers stand on."""

import uuid

from aiokafka import AIOKafkaConsumer, TopicPartition

from workers import analytics
from workers.connections import Connections
from workers.kafka import ORDERS, PARTITIONS


async def test_kafka_keeps_order_within_a_market_partition(connections: Connections) -> None:
    topic = connections.settings.topic(ORDERS)
    sent = [
        await connections.producer.send_and_wait(topic, f"command {i}".encode(), key=b"market-7")
        for i in range(5)
    ]
    assert len({m.partition for m in sent}) == 1  # one key, one partition
    assert [m.offset for m in sent] == list(range(sent[0].offset, sent[0].offset + 5))
    partitions = await connections.producer.partitions_for(topic)
    assert len(partitions) == PARTITIONS

    consumer = AIOKafkaConsumer(bootstrap_servers=connections.settings.kafka_bootstrap)
    await consumer.start()
    try:
        where = TopicPartition(topic, sent[0].partition)
        consumer.assign([where])
        consumer.seek(where, sent[0].offset)
        got: list[bytes] = []
        while len(got) < 5:
            batch = await consumer.getmany(where, timeout_ms=5000)
            assert batch, "nothing came back from Kafka"
            got += [record.value for record in batch[where] if record.value is not None]
    finally:
        await consumer.stop()
    assert got == [f"command {i}".encode() for i in range(5)]


async def test_redis_round_trip_and_pubsub(connections: Connections) -> None:
    await connections.redis.set("probe", "42")
    assert await connections.redis.get("probe") == b"42"
    pubsub = connections.redis.pubsub()
    await pubsub.subscribe("market:1")
    try:
        assert await connections.redis.publish("market:1", "seq 1") == 1
        message = None
        while message is None:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5)
        assert message["data"] == b"seq 1"
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_clickhouse_inserts_and_aggregates(connections: Connections) -> None:
    dsn = connections.settings.clickhouse_dsn
    table = f"probe_{uuid.uuid4().hex[:8]}"
    await analytics.command(
        dsn,
        f"CREATE TABLE {table} (market UInt64, price UInt8, qty UInt32)"
        " ENGINE = MergeTree ORDER BY market",
    )
    try:
        await analytics.insert(
            dsn, table, [(1, 40, 10), (1, 60, 30), (2, 55, 5)], ["market", "price", "qty"]
        )
        rows = await analytics.query_rows(
            dsn,
            f"SELECT market, sum(qty), sum(price * qty) / sum(qty) FROM {table}"
            " GROUP BY market ORDER BY market",
        )
    finally:
        await analytics.command(dsn, f"DROP TABLE {table}")
    assert [(int(m), int(q), float(v)) for m, q, v in rows] == [(1, 40, 55.0), (2, 5, 55.0)]
