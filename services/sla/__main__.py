from runtime.entrypoint import main
from services import SERVICE_PORTS

main("sla", SERVICE_PORTS["sla"])
