"""Execution: making and configuring envs, loading agents, running one episode, the local and Ray
executors, the Parquet run store and progress. Imports `core` and `contract` only: it never knows
how a run is planned or judged."""
