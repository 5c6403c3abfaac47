"""The meeting-notes task suite: transcripts written for assay, their ground truth, the
tasks built from them and the metrics that score a model's notes."""
