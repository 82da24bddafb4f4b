"""The local AWS endpoint: moto plus what moto lacks, on one loopback port.

`server` runs it, `app` is the request path, and each service package says what it does not
emulate.
"""
