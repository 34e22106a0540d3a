"""Typed models: the three EventBridge sources (parsed at the edge) and the domain's findings and decisions."""
