"""`assay serve`: the OpenAI-compatible server (create_app), its schemas, errors and
model workers."""
