"""Use cases: plain async functions over the core's ports, called by the entrypoints."""
