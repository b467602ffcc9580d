"""`python -m telephony` — see telephony/client.py."""
import sys

from .client import main

if __name__ == "__main__":
    sys.exit(main())
