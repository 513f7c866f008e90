"""simtest: simulation regression harness."""
