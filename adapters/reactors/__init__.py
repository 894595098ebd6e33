"""The reactors' runtime: starting them, delivering their effects, replaying them (see ``run``)."""
