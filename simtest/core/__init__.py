"""Foundation: user-facing errors, positioned YAML and the safe expression grammar. Imports no other
part of simtest; every stage may import it."""
