"""Conversation flows as data: YAML files shipped with trialbot (see flows/README.md)."""
