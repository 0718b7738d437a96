"""The SLA rules, free of I/O: calendars, policies, clocks and order promises."""
