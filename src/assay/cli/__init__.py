"""The command line: one thin module per command over assay's library."""
