"""The run engine's surface-neutral parts, shared by every API face (no HTTP shapes here)."""
