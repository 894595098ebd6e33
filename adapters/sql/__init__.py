"""The read-model database: engines, the framework's tables, the projection store, shadow tables, migrations."""
