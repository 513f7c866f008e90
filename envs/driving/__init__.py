"""The pybullet driving environment `simtest/Driving-v0` (see docs/contracts.md section 2).

Light on import: `env` (pybullet) is imported only when the env is made."""
