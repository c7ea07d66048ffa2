"""Long-running processes (matcher, analytics sink) and the Kafka, Redis and ClickHouse plumbing."""
