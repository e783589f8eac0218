"""The app: its settings (settings.py), the composition root that turns them into services
(services.py), and the `newsbot` command line (cli.py). `python -m bot` uses the same root."""
