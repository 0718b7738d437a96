"""Consumer lag per topic partition, measured from outside the consumer: the group's committed
offsets against the partitions' end offsets. Exported as a gauge every few seconds."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from prometheus_client import Gauge

CONSUMER_LAG = Gauge(
    "careloop_consumer_lag_records",
    "Records not yet consumed and committed by the service's consumer group",
    ["service", "topic", "partition"],
)


def lag_per_partition(
    end: dict[TopicPartition, int], committed: dict[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Pure: with no committed offset a partition lags by all it holds (consumers start at earliest)."""
    return {tp: max(0, end_offset - committed.get(tp, 0)) for tp, end_offset in end.items()}


class LagMonitor:
    def __init__(self, bootstrap_servers: str, subscriptions: list[tuple[str, str]], service: str) -> None:
        """`subscriptions`: (consumer group, topic) pairs, read at each measurement."""
        self._bootstrap = bootstrap_servers
        self._subscriptions = subscriptions
        self._service = service
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None

    async def measure(self) -> dict[TopicPartition, int]:
        """Lag of every subscribed partition (summed over groups when two consumers read one topic)."""
        total: dict[TopicPartition, int] = {}
        for group, topic in self._subscriptions:
            for tp, records in (await self._measure_group(group, topic)).items():
                total[tp] = total.get(tp, 0) + records
        for tp, records in total.items():
            CONSUMER_LAG.labels(self._service, tp.topic, str(tp.partition)).set(records)
        return total

    async def _measure_group(self, group: str, topic: str) -> dict[TopicPartition, int]:
        if self._admin is None or self._offsets is None:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
            await self._admin.start()
            self._offsets = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
            await self._offsets.start()
        known = self._offsets.partitions_for_topic(topic) or await self._partitions(topic)
        partitions = [TopicPartition(topic, p) for p in sorted(known)]
        end = await self._offsets.end_offsets(partitions)
        committed = {
            tp: meta.offset
            for tp, meta in (
                await self._admin.list_consumer_group_offsets(group, partitions=partitions)
            ).items()
            if meta.offset >= 0
        }
        return lag_per_partition(end, committed)

    async def _partitions(self, topic: str) -> set[int]:
        assert self._offsets is not None
        await self._offsets._client.force_metadata_update()  # aiokafka has no public metadata refresh
        return self._offsets.partitions_for_topic(topic) or set()

    async def close(self) -> None:
        if self._offsets is not None:
            await self._offsets.stop()
        if self._admin is not None:
            await self._admin.close()
        self._admin = self._offsets = None
