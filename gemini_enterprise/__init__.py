"""Framework-free client for the Gemini Enterprise web ("widget") protocol, plus its simulator.

Import from the modules: `client` (GeminiClient), `errors` (the UpstreamError tree), `types` (credentials,
stream events, ...), `simulator`.
"""
