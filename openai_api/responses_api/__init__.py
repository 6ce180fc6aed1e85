"""The OpenAI Responses API (/v1/responses): a second face on the chat completions run engine.

items.py validates `input` into Responses items and renders them as conversation messages; store.py
keeps finished responses per API key; shapes.py and events.py build the response object and its
streamed events; face.py plans a run and turns its events into the HTTP answer.
"""
