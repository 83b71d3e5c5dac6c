"""A model on disk.

    validation.py   untrusted JSON checked the one way llmviz does: strict pydantic models, refusals in words
    fileformat.py   the safetensors file: its header, its table of tensors checked against the file, the version
    description.py  a checkpoint's description checked: types, ranges, size bounds
    weights.py      the file's tensors onto the model they describe, checked on the meta device first
    adapters.py     adapters-only files: LoRA adapters saved alone, loaded onto their exact base only
    atomic.py       a file written whole or not at all, through a temporary no other writer shares
    checkpoint.py   save and load a whole model, format v2 (v1 still loads; never unpickles)
"""
