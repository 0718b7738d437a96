"""Test helpers shared by every suite: isolated settings, running services, Kafka I/O, waiting."""
