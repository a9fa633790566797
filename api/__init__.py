"""The HTTP service: ``POST /image/match``, one-to-many search, the listing gate and index
management, behind API keys, with a URL fetcher that only reaches public hosts.

:func:`lookalike.api.app.create_app` builds the FastAPI app; :func:`lookalike.api.serve.serve`
runs it with uvicorn (``lookalike serve``). Nothing is imported here, so the CLI can register
``serve`` without loading FastAPI.
"""
