"""The application: the CLI (cli.py, commands/), the HTTP service (serve/) and the demo."""
