"""A stand-in for the `safetensors` package (not installable here), so the tests can run
hnfnet_torch through its package path: PYTHONPATH=python/tests/stand_ins."""
