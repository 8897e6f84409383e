import sys

from deita_assets.cli import main

sys.exit(main())
