"""`python -m api.cli`: the `stele` command without installing it."""

from api.cli.main import main

main()
