"""The four CareLoop services. Each is a thin package that plugs into `runtime`."""

SERVICE_NAMES = ("intake", "sla", "notify", "survey")
