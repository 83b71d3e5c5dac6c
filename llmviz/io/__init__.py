"""A model on disk.

    checkpoint.py  safetensors + JSON save and load, format v2 (v1 still loads; never unpickles)
    schema.py      an untrusted checkpoint's description checked: types, ranges, size bounds
"""
