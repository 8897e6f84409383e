import sys

from deita_assets.app.cli import main

sys.exit(main())
