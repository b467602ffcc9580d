"""Set-up and maintenance tools (run from the project's .venv)."""
