"""Exploration: work that proposes cases beyond a suite's plan (falsification search, behavioural
tests' metamorphic pairs, coverage filling). Imports `core`, `contract` and `authoring` (it reads
scenario domains); never execution or judging: the wiring module connects them."""
