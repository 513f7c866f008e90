"""Authoring and planning: scenario and suite files, their validation and JSON Schemas, and the
pure, deterministic planning of cases. Imports `core` and `contract` only."""
