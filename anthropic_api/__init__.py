"""Anthropic's Messages API (/v1/messages): a third face on the shared run engine."""
