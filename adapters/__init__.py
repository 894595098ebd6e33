"""Everything that touches the outside: configuration, event store, Kafka, SQL, the CLI."""
