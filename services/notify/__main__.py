from runtime.entrypoint import main

main("notify")
