"""Admin notifications: kinds and fan-out into pushes, the workbench list and preferences, the sweeps that raise them."""
