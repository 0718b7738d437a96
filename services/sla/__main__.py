from runtime.entrypoint import main

main("sla")
