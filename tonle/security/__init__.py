"""What keeps the wrong process from moving a machine: certificates, signatures, and names.

`pki` makes the plant's small certificate authority and the certificates of the broker,
gateways and services; `signing` signs and verifies commands with Ed25519; `names` refuses a
name that looks like another one already in use. No I/O beyond the files they are given.
"""
