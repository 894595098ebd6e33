"""The event store: eventsourcing wiring, the notification log read as plain rows, fast decoding, the log as a source."""
