from assay.cli.entry import main

main()
