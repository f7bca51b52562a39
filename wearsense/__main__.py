import sys

from wearsense.cli import main

sys.exit(main())
