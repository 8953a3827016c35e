"""The stage layer: the run's storage (rundir.py) and the stage functions that load and save through it (pipeline.py; protocol.py is the evaluate stage)."""
