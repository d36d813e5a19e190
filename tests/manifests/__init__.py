"""Tests of the manifest loader: YAML reading, validation, files, hostile input, fuzzing."""
