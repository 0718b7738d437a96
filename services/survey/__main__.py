from runtime.entrypoint import main

main("survey")
