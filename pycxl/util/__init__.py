"""Utilities shared by the cxl, ndctl and daxctl re-implementations."""
