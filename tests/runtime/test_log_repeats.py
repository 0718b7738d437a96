"""A flood of identical warnings (a client library retrying against a broker that is away) becomes
one line per interval that says how many were held back; info lines and other messages all pass."""

from __future__ import annotations

import logging

from runtime.logs import RepeatFilter


def record(name: str, level: int, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_identical_warnings_pass_once_per_interval_with_the_count_held_back() -> None:
    now = [0.0]
    repeats = RepeatFilter(10.0, clock=lambda: now[0])
    template = "Unable connect to node with id %s: %s"
    passed = []
    for n in range(1000):
        now[0] = n * 0.01  # a thousand in ten seconds
        line = record("aiokafka", logging.ERROR, template, 1, "refused")
        if repeats.filter(line):
            passed.append(line.getMessage())
    now[0] = 10.5
    last = record("aiokafka", logging.ERROR, template, 1, "refused")
    assert repeats.filter(last)
    assert passed == ["Unable connect to node with id 1: refused"]
    held = "(999 more like it in the last 10 s)"
    assert last.getMessage() == f"Unable connect to node with id 1: refused {held}"


def test_info_lines_and_other_messages_are_never_held_back() -> None:
    repeats = RepeatFilter(10.0, clock=lambda: 0.0)
    infos = [record("runtime.migrations", logging.INFO, "applied migration %s", n) for n in range(5)]
    assert all(repeats.filter(r) for r in infos)
    assert repeats.filter(record("aiokafka", logging.ERROR, "first %s", 1))
    assert repeats.filter(record("aiokafka", logging.ERROR, "second %s", 1))
    assert repeats.filter(record("runtime.outbox", logging.ERROR, "first %s", 1))  # another logger
    assert not repeats.filter(record("aiokafka", logging.ERROR, "first %s", 2))
