"""The survey rules: scales, throttling, tokens, score maths. Pure: no I/O, time is a parameter."""
