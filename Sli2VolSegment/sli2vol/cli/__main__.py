"""``python -m sli2vol.cli`` (also what torchrun starts)."""
import sys

from sli2vol.cli import main

sys.exit(main())
