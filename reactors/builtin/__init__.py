"""The reactors that ship with orderstream: inventory, payment, notification."""
