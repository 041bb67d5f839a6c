from omsync_tui.cli.main import main

main()
