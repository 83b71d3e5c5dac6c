"""What a model is trained to do, beyond continuing a text (tutorial parts 2 and 3).

    translation.py  a generated French→English language: grammar, held-out split, vocabularies
    seq2seq.py      padded sentence pairs, greedy and beam decoding, exact match and BLEU, contextual embeddings
    finetune.py     a cached pre-trained base; full, frozen-body and LoRA fine-tuning
    finetune_compare.py  fine-tuning runs side by side: bytes to keep, the table, the sentence that reads it
    tools.py        tools and tool calls: the one safe calculator, a call as the model writes it, OpenAI's shapes
    chat.py         the chat format (role tokens): a conversation as the text a model continues; memory
    instruct_data.py  the generated instruction tasks (context, tool, shout, style, memory, passages), held out
    instruct.py     instruction tuning (a vocabulary grown as needed), answers, held-out accuracy, forgetting
    preference.py   preference tuning (DPO) on chosen and rejected answers
    prompting.py    prompt engineering measured: each wording's whole answer, its accuracy, its first token
"""
