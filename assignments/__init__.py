"""Workshop packs as data, plus the small builders that make their files.

``pack`` reads a pack folder (no Django); ``datasets`` loads, splits and writes
the data files; ``transfer`` builds the published pretrained base.
"""
