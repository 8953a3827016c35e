"""evaluation: four floors, bottom up: measure/ (metrics, ground truth, the report object), stages/ (the run's
storage and the stage functions), bench/ (every benchmark), app/ (the CLI, the HTTP service, the demo)."""
