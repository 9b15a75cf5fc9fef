"""`python -m lockgate.cli`."""

from lockgate.cli import main

main()
