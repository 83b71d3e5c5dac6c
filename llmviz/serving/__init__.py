"""Serving a trained model to other programs (tutorial part 4, frameworks).

    engine.py         dynamic batching: one thread steps every active request in one forward pass
    protocol.py       OpenAI's API as spoken here: request fields, their checks, errors, response pieces
    api.py            the OpenAI-compatible HTTP API (FastAPI): models, completions, chat, streaming, errors
    server.py         run it under uvicorn, in the foreground (the command line) or a background thread (the app)
    langchain_llm.py  the model as a LangChain LLM / chat model, in-process or over HTTP
    agent.py          prompt template, chain, memory, and an agent with a calculator tool
"""
