"""The four CareLoop services. Each is a thin package that plugs into `runtime`."""

SERVICE_PORTS = {"intake": 8001, "sla": 8002, "notify": 8003, "survey": 8004}
"""Each service's HTTP port unless CARELOOP_HTTP_PORT says otherwise."""

SERVICE_NAMES = tuple(SERVICE_PORTS)
