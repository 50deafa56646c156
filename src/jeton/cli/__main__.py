"""`python -m jeton.cli` is `jeton`."""

from jeton.cli.main import main

main()
