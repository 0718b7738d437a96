"""The notify service's rules, free of I/O and clock reads (time is always a parameter)."""
