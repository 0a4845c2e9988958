"""pycxl: the ndctl project's cxl tool, reimplemented in Python."""

#: The upstream release whose behaviour pycxl reproduces.
UPSTREAM_VERSION = "81"
__version__ = "0.1.0"
