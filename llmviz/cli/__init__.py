"""The command line: `python -m llmviz <command>`, one module per family of commands.

    main.py     the parser and the train, generate, finetune, instruct, chat and serve commands
    vectors.py  index and search: the vector database from the command line
"""
