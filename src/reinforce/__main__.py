import sys

from reinforce.cli import main

sys.exit(main())
