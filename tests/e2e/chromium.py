"""The system's Chromium, launched the one way that works offline here.

Playwright cannot download its own browser without a network, so the tests and the
screenshot script drive Debian's Chromium; the flags keep it from reaching for the network.
"""

import os
from pathlib import Path

CHROMIUM = Path(os.environ.get("CUSTOS_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
