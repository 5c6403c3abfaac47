"""Quality of a bench run's outputs: rule checks, annotation files and a judge model."""
