from runtime.entrypoint import main
from services import SERVICE_PORTS

main("notify", SERVICE_PORTS["notify"])
