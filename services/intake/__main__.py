from runtime.entrypoint import main
from services import SERVICE_PORTS

main("intake", SERVICE_PORTS["intake"])
