"""Judging: slices, statistics and the Verdict. Pure: no simulation, no I/O. Imports `core` and
`contract` only."""
