"""`assay doctor`: checks of the engine build, a test generation, GPU, threads, load, memory and
disk, each with its fix."""
