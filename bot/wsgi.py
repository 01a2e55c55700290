"""Production entry point: `gunicorn 'bot.wsgi:app'` with WUYE_CONFIG pointing at config.toml."""
from __future__ import annotations

import os

from bot.app import create_app
from bot.config import load_config

app = create_app(load_config(os.environ.get("WUYE_CONFIG", "config.toml")))
