"""EventPublisher over Redis pub/sub, for several cloud instances sharing one database."""

from adapters.redis_pubsub.publisher import RedisPublisher

__all__ = ["RedisPublisher"]
