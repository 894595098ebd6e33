"""Kafka: the message envelope, the event topic's provisioning, the partitioner, the topic as a source."""
