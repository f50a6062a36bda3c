#!/usr/bin/env python
"""Django's command-line utility for the op_store example project."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run from a clean clone without installing: the repository root holds op_store.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
