from fairdun.cli import main

main()
