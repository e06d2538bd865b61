import sys

from conformance.runner.cli import main

sys.exit(main())
