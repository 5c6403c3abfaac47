"""Reports from run directories: the Report model, its renderers, compare and select."""
