"""The command line: `python -m llmviz <command>`, one module per family of commands.

    main.py        the top parser and `main(argv)`: each command's function, a refusal said in words
    failure.py     how a command fails: a LearnerError becomes `error: <message>` and exit status 2 (or 1)
    runs.py        what the training commands share: config fields as flags, --out checked, the progress bar
    training.py    presets and train (also under torchrun)
    tuning.py      finetune (full, frozen body, LoRA) and instruct
    preference.py  prefer: preference tuning (DPO) of an instruct model
    generation.py  generate (streamed text) and chat (a conversation in the terminal)
    serve.py       serve: a checkpoint behind an OpenAI-compatible API
    vectors.py     index and search: the vector database from the command line
    retrieval_eval.py  search-eval and rag-eval: retrieval and RAG measured on questions with known answers
"""
