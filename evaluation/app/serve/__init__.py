"""The HTTP service over a run (FastAPI + uvicorn) and its closed-loop benchmark; top of the import flow."""
