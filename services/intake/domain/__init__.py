"""Intake's ticket rules: pure functions and values, no I/O, time passed in."""
