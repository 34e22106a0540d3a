"""Declared runbooks, one package per service: crawler, query, execution."""
