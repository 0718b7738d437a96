from runtime.entrypoint import main

main("intake")
