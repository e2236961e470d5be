"""The application layer: the `tonle` command, the demo, the shift report, local services.

It composes the stages and the foundation; nothing imports it (the import contracts in
`.importlinter` say so and `make lint` checks them).
"""
