"""Stele's domain: the Record and Dossier aggregates, their events and rules. Pure: no I/O,
no clock, no randomness; time, ids and actors come in as arguments."""
