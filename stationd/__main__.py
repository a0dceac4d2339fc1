from stationd.cli import main

main()
