"""The values that pass between stages: the env/model contract (registry), the case, the result row,
and the gate policy. Imports only `core`; every stage may import it."""
