from runtime.entrypoint import main
from services import SERVICE_PORTS

main("survey", SERVICE_PORTS["survey"])
