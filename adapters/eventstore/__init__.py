"""The event store: eventsourcing wiring, the notification log as plain rows, fast decoding, the log as a source."""
