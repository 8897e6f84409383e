"""Wiring: partitions, jobs, the fan-out job factory, sensors, the schedule and automation."""
