"""Serving a trained model to other programs (tutorial part 4, frameworks).

    engine.py         dynamic batching: one thread steps every active request in one forward pass
    scoring.py        a prompt's own log-probabilities (echo + logprobs), stopped when its client leaves
    protocol.py       OpenAI's API as spoken here: request fields, their checks, errors, response pieces
    request_log.py    the live request log a page shows
    served.py         the one model an app serves: engine, log, limits, API key, model card
    choices.py        one request's sequences in the engine, their deltas collected as they arrive
    replies.py        what each endpoint answers: request -> engine jobs; choices as streamed pieces or whole
    tool_calls.py     tools and tool_choice through the API: the history's calls, a call's grammar, OpenAI's shape
    json_mode.py      response_format json_object: decoding masked to what can go on being a JSON object
    api.py            the OpenAI-compatible HTTP API (FastAPI): routes, one event stream, errors
    server.py         run it under uvicorn, in the foreground (the command line) or a background thread (the app)
    langchain_llm.py  the model as a LangChain LLM / chat model, in-process or over HTTP
    agent.py          prompt template, chain, memory, and LangChain's agent (create_agent) with the calculator
"""
